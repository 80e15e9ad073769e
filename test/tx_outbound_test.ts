/**
 * Transactional mail through the real outbound path: POST /v1/emails → outbox → the bridge's
 * SMTP worker → an SMTP sink on 127.0.0.1 (MX from a fake DNS). With VERP on, the envelope
 * sender is the signed return path; a 550 5.1.1 for an unknown user ends as a `bounced` event
 * and a suppression entry (and no DSN in the sender's Inbox), a 250 as `delivered`; and the
 * next send to the bounced address is skipped.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, DOMAIN } from "./fixtures/app.ts";
import { startOutboundWorld } from "./fixtures/outbound.ts";

Deno.test("outbound: VERP return path; unknown user → bounced + suppressed; 250 → delivered", async () => {
  const world = await startOutboundWorld();
  try {
    const token = await world.gw.login(ALICE);
    // The domain's settings and suppression list are its administrators' (issue 15 item 4).
    const admin = await world.gw.login(ADMIN);
    await world.gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, {
      token: admin,
      body: { verp: true },
    });
    world.sink.backend.rcptReplies.set("nobody@remote.test", {
      code: 550,
      enhanced: "5.1.1",
      text: "<nobody@remote.test>: Recipient address rejected: User unknown",
    });
    const res = await world.gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: ["nobody@remote.test", "carol@remote.test"],
        subject: "Your receipt",
        text: "Thanks.",
        tags: ["receipt"],
      },
    });
    assertEquals(res.status, 201, await res.clone().text());
    const sent = await res.json();
    assertEquals(await world.worker().runOnce(), 2);
    const received = world.sink.backend.received;
    assertEquals(received.length, 1);
    assert(
      /^bounces\+em_[0-9a-f]{24}\.[0-9a-f]{16}@postern\.test$/.test(received[0].mailFrom),
      received[0].mailFrom,
    );

    const view = await (await world.gw.call("GET", `/v1/emails/${sent.emailId}`, { token })).json();
    const byAddress = Object.fromEntries(
      view.recipients.map((r: { address: string; status: string; events: unknown[] }) => [
        r.address,
        r.status,
      ]),
    );
    assertEquals(byAddress, { "nobody@remote.test": "bounced", "carol@remote.test": "delivered" });
    const bounce = view.events.find((e: { type: string }) => e.type === "bounced");
    assertEquals(bounce.data.status, "5.1.1");
    assertEquals(await world.inbox(ALICE.address), [], "reported as an event, not a DSN");

    const list = await (await world.gw.call("GET", `/v1/domains/${DOMAIN}/suppressions`, {
      token: admin,
    })).json();
    assertEquals(
      list.suppressions.map((s: { address: string; reason: string; emailId: string }) => [
        s.address,
        s.reason,
        s.emailId,
      ]),
      [["nobody@remote.test", "bounce", sent.emailId]],
    );
    const again = await (await world.gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["nobody@remote.test", "carol@remote.test"], text: "2" },
    })).json();
    assertEquals(again.recipients.map((r: { status: string }) => r.status), [
      "queued",
      "suppressed",
    ]);
    const stats = await (await world.gw.call("GET", "/v1/analytics?groupBy=tag", { token })).json();
    assertEquals(
      stats.rows.map((r: Record<string, unknown>) => [r.key, r.sent, r.delivered, r.bounced]),
      [["receipt", 2, 1, 1]],
    );
  } finally {
    await world.close();
  }
});

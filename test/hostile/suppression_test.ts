/**
 * Hostile inputs for the suppression list (issue 15 item 8): remote answers that are not about
 * the recipient — a broken receiver's 500 to DATA, a 550 without enhanced code after DATA, the
 * recipient domain's NXDOMAIN, SHARP/1.3 errors about the sender or the peer itself, DSNs for a
 * full mailbox — must fail the message with the reason in its timeline and leave the address
 * sendable; only recipient-specific failures (RFC 3463 X.1.x at RCPT, SHARP "no such user", a
 * DSN's 5.1.1) suppress, with the code, stage, text and time an admin can read and lift.
 * Driven through the real interfaces: POST /v1/emails, the bridge's SMTP and SHARP/1.3 workers
 * against a fake MX and a fake SHARP peer, the bridge HTTP contract, and the suppression API.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { ADMIN, ALICE, DOMAIN } from "../fixtures/app.ts";
import { type OutboundWorld, startOutboundWorld } from "../fixtures/outbound.ts";
import { dsnReport } from "../fixtures/reports.ts";
import { deliverSharpDomain } from "../../bridge/sharp/outbound.ts";
import type { SharpSendRequest, SharpSendResult } from "../../bridge/sharp/client.ts";

interface Suppression {
  address: string;
  reason: string;
  detail: string;
  code: string | null;
  stage: string | null;
  createdAt: string;
}

/** The domain's list, read by the administrator (a plain user may not: issue 15 item 4). */
async function suppressions(world: OutboundWorld): Promise<Suppression[]> {
  const token = await world.gw.login(ADMIN);
  const res = await world.gw.call("GET", `/v1/domains/${DOMAIN}/suppressions`, { token });
  assertEquals(res.status, 200);
  return (await res.json()).suppressions;
}

async function statusOf(world: OutboundWorld, token: string, emailId: string) {
  const view = await (await world.gw.call("GET", `/v1/emails/${emailId}`, { token })).json();
  return view as {
    recipients: { address: string; status: string }[];
    events: { type: string; recipient: string; data: Record<string, unknown> }[];
  };
}

async function sendAs(world: OutboundWorld, token: string, to: string[]) {
  const res = await world.gw.call("POST", "/v1/emails", {
    token,
    body: { from: ALICE.address, to, subject: "Receipt", text: "Thanks.\n" },
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("issue15#8: a 500 to DATA fails the message, suppresses nothing; the next send is accepted", async () => {
  const world = await startOutboundWorld();
  try {
    const token = await world.gw.login(ALICE);
    world.sink.backend.dataReply = { code: 500, enhanced: "", text: "Error: internal error" };
    const first = await sendAs(world, token, ["carol@remote.test"]);
    assertEquals(first.status, 201);
    assertEquals(await world.worker().runOnce(), 1);
    const view = await statusOf(world, token, first.body.emailId);
    assertEquals(view.recipients.map((r) => r.status), ["bounced"]);
    const bounce = view.events.find((e) => e.type === "bounced")!;
    assert(String(bounce.data.reason).includes("500"), JSON.stringify(bounce.data));
    assertEquals(bounce.data.stage, "data");
    assertEquals(bounce.data.suppressed, false);
    assertEquals(await suppressions(world), []);

    // A 550 without enhanced code after DATA concerns the transaction, not the mailbox.
    world.sink.backend.dataReply = { code: 550, enhanced: "", text: "Message rejected" };
    const second = await sendAs(world, token, ["carol@remote.test"]);
    assertEquals(second.status, 201);
    assertEquals(await world.worker().runOnce(), 1);
    assertEquals(await suppressions(world), []);

    world.sink.backend.dataReply = undefined;
    const third = await sendAs(world, token, ["carol@remote.test"]);
    assertEquals(third.status, 201, JSON.stringify(third.body));
    assertEquals(third.body.recipients, [{ address: "carol@remote.test", status: "queued" }]);
    assertEquals(await world.worker().runOnce(), 1);
    assertEquals(world.sink.backend.received.length, 1);
  } finally {
    await world.close();
  }
});

Deno.test("issue15#8: 550 5.1.1 at RCPT suppresses with its code, stage and text; DELETE lifts it", async () => {
  const world = await startOutboundWorld();
  try {
    const token = await world.gw.login(ALICE);
    world.sink.backend.rcptReplies.set("nobody@remote.test", {
      code: 550,
      enhanced: "5.1.1",
      text: "<nobody@remote.test>: Recipient address rejected: User unknown",
    });
    // Policy and full-mailbox refusals at RCPT are not about the address's existence.
    world.sink.backend.rcptReplies.set("full@remote.test", {
      code: 552,
      enhanced: "5.2.2",
      text: "Mailbox full",
    });
    world.sink.backend.rcptReplies.set("listed@remote.test", {
      code: 550,
      enhanced: "5.7.1",
      text: "Service unavailable; client host blocked using zen.spamhaus.org",
    });
    world.sink.backend.rcptReplies.set("plain@remote.test", {
      code: 550,
      enhanced: "",
      text: "Client host rejected: your IP is listed",
    });
    const sent = await sendAs(world, token, [
      "nobody@remote.test",
      "full@remote.test",
      "listed@remote.test",
      "plain@remote.test",
    ]);
    assertEquals(sent.status, 201);
    assertEquals(await world.worker().runOnce(), 4);
    const view = await statusOf(world, token, sent.body.emailId);
    assertEquals(view.recipients.map((r) => r.status), [
      "bounced",
      "bounced",
      "bounced",
      "bounced",
    ]);
    const list = await suppressions(world);
    assertEquals(list.map((s) => [s.address, s.reason, s.code, s.stage]), [
      ["nobody@remote.test", "bounce", "550 5.1.1", "rcpt"],
    ]);
    assert(list[0].detail.includes("User unknown"), list[0].detail);
    assert(!Number.isNaN(Date.parse(list[0].createdAt)));

    const again = await sendAs(world, token, ["nobody@remote.test", "full@remote.test"]);
    assertEquals(again.body.recipients.map((r: { status: string }) => r.status), [
      "queued",
      "suppressed",
    ]);
    const lifted = await world.gw.call(
      "DELETE",
      `/v1/domains/${DOMAIN}/suppressions/nobody@remote.test`,
      { token: await world.gw.login(ADMIN) },
    );
    assertEquals(lifted.status, 204);
    const after = await sendAs(world, token, ["nobody@remote.test"]);
    assertEquals(after.status, 201);
    assertEquals(after.body.recipients, [{ address: "nobody@remote.test", status: "queued" }]);
  } finally {
    await world.close();
  }
});

Deno.test("issue15#8: an NXDOMAIN recipient domain fails the message without suppressing", async () => {
  const world = await startOutboundWorld();
  try {
    const token = await world.gw.login(ALICE);
    const sent = await sendAs(world, token, ["ghost@nowhere.test", "x@nullmx.test"]);
    assertEquals(await world.worker().runOnce(), 2);
    const view = await statusOf(world, token, sent.body.emailId);
    assertEquals(view.recipients.map((r) => r.status), ["bounced", "bounced"]);
    const bounce = view.events.find((e) => e.type === "bounced" && e.recipient.includes("ghost"))!;
    assertEquals([bounce.data.status, bounce.data.stage], ["5.1.2", "dns"]);
    assertEquals(await suppressions(world), []);
    // The domain appears (added elsewhere, or its DNS was repaired): the next send goes out.
    world.dns.zone["nowhere.test"] = { A: ["127.0.0.1"] };
    const next = await sendAs(world, token, ["ghost@nowhere.test"]);
    assertEquals(next.body.recipients, [{ address: "ghost@nowhere.test", status: "queued" }]);
    assertEquals(await world.worker().runOnce(), 1);
    assertEquals(world.sink.backend.received.map((r) => r.rcptTo), [["ghost@nowhere.test"]]);
  } finally {
    await world.close();
  }
});

Deno.test("issue15#8: SHARP/1.3 errors about the sender or the peer do not suppress; no such user does", async () => {
  const world = await startOutboundWorld({
    zone: {
      "_sharp._tcp.sharp.test": { SRV: ["10 5 5000 s.sharp.test"] },
      "s.sharp.test": { A: ["127.0.0.1"] },
    },
  });
  try {
    const token = await world.gw.login(ALICE);
    // What a SHARP/1.3 peer answers, per recipient (SHARP-1.3.md "Errors").
    const answers: Record<string, Omit<Extract<SharpSendResult, { ok: false }>, "transcript">> = {
      "badsender#sharp.test": {
        ok: false,
        step: "HELLO",
        code: 400,
        message: "Sender verification failed",
      },
      "nosrv#sharp.test": {
        ok: false,
        step: "MAIL_TO",
        code: 400,
        message: "Sender domain has no SRV record",
      },
      "big#sharp.test": { ok: false, step: "EMAIL_CONTENT", code: 413, message: "Line too long" },
      "dbdown#sharp.test": {
        ok: false,
        step: "END_DATA",
        code: 400,
        message: "database error: no such table",
      },
      "odd#sharp.test": { ok: false, step: "END_DATA", code: 550, message: "Storage failed" },
      "gone#sharp.test": { ok: false, step: "MAIL_TO", code: 550, message: "User not found" },
    };
    const to = Object.keys(answers).map((a) => a.replace("#", "@"));
    const sent = await sendAs(world, token, to);
    assertEquals(sent.status, 201, JSON.stringify(sent.body));
    const claim = await world.outbox.claim({ worker: "w", limit: 50, leaseSeconds: 60 });
    for (const group of claim.groups) {
      await deliverSharpDomain({
        resolver: world.resolver,
        hashcashBits: 1,
        hostname: "mail.postern.test",
        message: (item) => world.outbox.raw(item.id, "w"),
        report: async (item, result) => {
          await world.outbox.result(item.id, { worker: "w", ...result });
        },
        logger: { log() {} },
        send: (req: SharpSendRequest) =>
          Promise.resolve({ ...answers[req.to.toLowerCase()], transcript: [] } as SharpSendResult),
      }, group);
    }
    const view = await statusOf(world, token, sent.body.emailId);
    assertEquals(view.recipients.map((r) => r.status), to.map(() => "bounced"));
    assertEquals((await suppressions(world)).map((s) => [s.address, s.stage]), [
      ["gone@sharp.test", "rcpt"],
    ]);
  } finally {
    await world.close();
  }
});

Deno.test("issue15#8: DSNs to the VERP address suppress on 5.1.1 only, not on 5.2.2 or 5.7.1", async () => {
  const world = await startOutboundWorld();
  try {
    const token = await world.gw.login(ALICE);
    const admin = await world.gw.login(ADMIN);
    await world.gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, {
      token: admin,
      body: { verp: true },
    });
    const sent = await sendAs(world, token, [
      "gone@remote.test",
      "full@remote.test",
      "policy@remote.test",
    ]);
    const [row] = await world.rows();
    const bridge = (await (await world.gw.call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "bridge2", scopes: ["bridge"] },
    })).json()).key;
    const post = async (body: string) => {
      const res = await world.gw.call(
        "POST",
        `/v1/bridge/tx/returns?rcpt=${encodeURIComponent(row.mailFrom)}`,
        {
          token: bridge,
          body: new TextEncoder().encode(body),
          headers: { "content-type": "message/rfc822" },
        },
      );
      assertEquals(res.status, 200);
      await res.body?.cancel();
    };
    await post(dsnReport(row.mailFrom, "gone@remote.test"));
    await post(dsnReport(row.mailFrom, "full@remote.test", "", "5.2.2", "552 5.2.2 Mailbox full"));
    await post(
      dsnReport(row.mailFrom, "policy@remote.test", "", "5.7.1", "550 5.7.1 Message rejected"),
    );
    const view = await statusOf(world, token, sent.body.emailId);
    assertEquals(view.recipients.map((r) => r.status), ["bounced", "bounced", "bounced"]);
    const list = await suppressions(world);
    assertEquals(list.map((s) => [s.address, s.code, s.stage]), [
      ["gone@remote.test", "5.1.1", "dsn"],
    ]);
  } finally {
    await world.close();
  }
});

/**
 * A real bounce from Postfix comes back to Postern's MX: a message sent through POST /v1/emails
 * with a signed VERP return path leaves through the outbound worker to a local Postfix, which
 * accepts it (250: `delivered` for the next hop) but has no such user, so Postfix's bounce
 * daemon mails an RFC 3464 DSN to the return path. Postfix relays `postern.test` to Postern's MX,
 * whose RCPT check accepts the signed return path; the report ends as a `bounced` event and a
 * suppression entry, not as mail in a mailbox.
 */
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, DOMAIN } from "./fixtures/app.ts";
import { startOutboundWorld, startWorldMx } from "./fixtures/outbound.ts";
import { assertPeers, peerTest, startPostfix } from "./fixtures/postfix.ts";

const peers = peerTest(["postfix"]);

Deno.test({
  name: "bounce: Postfix's DSN for an unknown user reaches the MX → bounced event + suppression",
  ignore: peers.ignore,
  fn: async () => {
    assertPeers(peers.missing);
    const world = await startOutboundWorld({
      zone: {
        "legacy.test": { MX: ["10 mx.legacy.test"] },
        "mx.legacy.test": { A: ["127.0.0.1"] },
      },
    });
    const mx = await startWorldMx(world);
    const postfix = await startPostfix({
      edgePort: mx.port,
      relayDomains: [DOMAIN],
      relayTls: "none",
      legacyUsers: ["bob"],
      // Accept unknown users at RCPT and bounce them afterwards: an asynchronous DSN.
      extraMainCf: "smtpd_reject_unlisted_recipient = no",
    });
    try {
      const token = await world.gw.login(ALICE);
      // The domain's settings and suppression list are its administrators' (issue 15 item 4).
      const admin = await world.gw.login(ADMIN);
      await world.gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, {
        token: admin,
        body: { verp: true },
      });
      const res = await world.gw.call("POST", "/v1/emails", {
        token,
        body: { from: ALICE.address, to: ["ghost@legacy.test"], subject: "Hi", text: "x" },
      });
      assertEquals(res.status, 201, await res.clone().text());
      const sent = await res.json();
      assertEquals(await world.worker({ port: postfix.port }).runOnce(), 1);
      assertEquals((await world.rows()).map((r) => r.state), ["sent"], "Postfix said 250");

      let view: { recipients: { status: string; events: { type: string; data: never }[] }[] };
      for (let i = 0;; i++) {
        view = await (await world.gw.call("GET", `/v1/emails/${sent.emailId}`, { token })).json();
        if (view.recipients[0].status === "bounced" || i >= 300) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const recipient = view.recipients[0];
      assertEquals(recipient.status, "bounced", `postfix log:\n${await postfix.log()}`);
      assertEquals(recipient.events.map((e) => e.type), ["queued", "sent", "delivered", "bounced"]);
      const bounce = recipient.events[3].data as { source: string; status: string };
      assertEquals([bounce.source, bounce.status], ["dsn", "5.1.1"]);
      const list = await (await world.gw.call("GET", `/v1/domains/${DOMAIN}/suppressions`, {
        token: admin,
      })).json();
      assertEquals(
        list.suppressions.map((s: { address: string; reason: string }) => [s.address, s.reason]),
        [["ghost@legacy.test", "bounce"]],
      );
      const stored = await world.gw.deps.store.db.select().from(schema.messages);
      assert(
        stored.every((m) => m.subject !== "Undelivered Mail Returned to Sender"),
        "no DSN mail",
      );
      assertEquals(await world.inbox(ALICE.address), [], "the DSN is an event, not Inbox mail");
    } catch (e) {
      console.error(`postfix log:\n${await postfix.log()}`);
      throw e;
    } finally {
      await postfix.stop();
      await mx.close();
      await world.close();
    }
  },
});

/**
 * Issue 20 (SMTP ingest): the MX reuses a local recipient's RCPT acceptance for a few seconds
 * (bridge/smtp/recipient_verdicts.ts) instead of asking the gateway for every message. What
 * must hold whatever is reused: a refusal is never reused (a mailbox created after one receives
 * at once), and a mailbox deleted while its acceptance is kept gets nothing: the hand-in
 * resolves the recipient again and the client is told after DATA.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, DOMAIN } from "./fixtures/app.ts";
import { python, startBridgeWorld } from "./fixtures/bridge.ts";
import { schema } from "../src/store/store.ts";
import { eq } from "drizzle-orm";

const CLIENT = `
import smtplib, sys
port, rcpt, label = int(sys.argv[1]), sys.argv[2], sys.argv[3]
msg = "From: Zed <zed@remote.example>\\r\\nTo: %s\\r\\nSubject: %s\\r\\n\\r\\nHello.\\r\\n" % (rcpt, label)
with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.remote.example") as s:
    try:
        s.sendmail("zed@remote.example", [rcpt], msg)
        print("ACCEPTED")
    except smtplib.SMTPRecipientsRefused as e:
        print("RCPT refused", e.recipients[rcpt][0])
    except smtplib.SMTPDataError as e:
        print("DATA refused", e.smtp_code, e.smtp_error.decode())
`;

Deno.test("issue20: an MX recipient's acceptance is reused, a refusal never; a mailbox deleted meanwhile gets nothing", async () => {
  const world = await startBridgeWorld({ backend: { recipientVerdictMs: 60_000 } });
  const send = (rcpt: string, label: string) =>
    python(CLIENT, [String(world.mxPort), rcpt, label]).then((s) => s.trim());
  try {
    const newcomer = `newcomer@${DOMAIN}`;
    assertEquals(await send(newcomer, "before"), "RCPT refused 550");
    const admin = await world.gw.login(ADMIN);
    const created = await world.gw.call("POST", "/v1/admin/accounts", {
      token: admin,
      body: { address: newcomer, password: "newcomer-password-1" },
    });
    assert(created.ok, await created.text());
    assertEquals(await send(newcomer, "after"), "ACCEPTED", "a refusal is not reused");

    assertEquals(await send(ALICE.address, "first"), "ACCEPTED");
    assertEquals(await send(ALICE.address, "second"), "ACCEPTED");
    const db = world.gw.deps.store.db;
    const [alice] = await db.select().from(schema.accounts).where(
      eq(schema.accounts.address, ALICE.address),
    );
    const removed = await world.gw.call("DELETE", `/v1/admin/accounts/${alice.id}`, {
      token: admin,
    });
    assert(removed.ok, await removed.text());
    const refused = await send(ALICE.address, "after deletion");
    assert(refused.startsWith("DATA refused 550 5.1.1"), refused);
    const rows = await db.select({ subject: schema.messages.subject }).from(schema.messages);
    assertEquals(rows.map((r) => r.subject).sort(), ["after"], "nothing stored for alice");
  } finally {
    await world.close();
  }
});

/**
 * SMTP relay with an API key as the password (issue 19 item 5), driven by Python's smtplib over
 * STARTTLS on the submission port: any user name with a live `pst_` key that has the send scope
 * signs in as the key's account; the submission then has the key's rights (its sending
 * domains), a read-only, revoked or unknown key is 535, and a key revoked after AUTH stops the
 * next message. An API key never opens IMAP or POP3.
 */
import { eq } from "drizzle-orm";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { python, startBridgeWorld } from "./fixtures/bridge.ts";
import { GatewayClient } from "../bridge/gateway_client.ts";

const RELAY = `
import smtplib, ssl, sys
port, user, password, cafile, sender = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
revoke_between = len(sys.argv) > 6
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", port) as s:
    s.starttls(context=ctx)
    try:
        s.login(user, password)
    except smtplib.SMTPAuthenticationError as e:
        print("AUTH", e.smtp_code)
        sys.exit(0)
    print("AUTH 235")
    msg = "From: %s\\r\\nTo: bob@postern.test, far@away.example\\r\\nSubject: relayed\\r\\n\\r\\nvia key\\r\\n" % sender
    try:
        s.sendmail(sender, ["bob@postern.test", "far@away.example"], msg)
        print("SENT 250")
    except smtplib.SMTPSenderRefused as e:
        print("SENDER", e.smtp_code)
    except smtplib.SMTPDataError as e:
        print("DATA", e.smtp_code)
    if revoke_between:
        sys.stdout.flush()
        input()
        try:
            s.sendmail(sender, ["bob@postern.test"], msg)
            print("SENT2 250")
        except smtplib.SMTPException as e:
            print("SENT2", getattr(e, "smtp_code", e))
`;

async function keyFor(gw: TestGateway, who: typeof ALICE, body: Record<string, unknown>) {
  const res = await gw.call("POST", "/v1/api-keys", {
    token: await gw.login(who),
    body: { name: "relay", ...body },
  });
  assertEquals(res.status, 201, await res.clone().text());
  const json = await res.json();
  return { key: json.key as string, id: json.id as number };
}

Deno.test("issue19#5: an API key is an SMTP relay password with the key's rights", async () => {
  const world = await startBridgeWorld();
  try {
    const { gw } = world;
    const send = (user: string, password: string, sender = ALICE.address) =>
      python(RELAY, [String(world.submissionPort), user, password, world.certFile, sender]);

    const alice = await keyFor(gw, ALICE, { scopes: ["send"] });
    const ok = await send("apikey", alice.key);
    assert(ok.includes("AUTH 235") && ok.includes("SENT 250"), ok);
    const db = gw.deps.store.db;
    const [bob] = await db.select().from(schema.accounts).where(
      eq(schema.accounts.address, BOB.address),
    );
    const bobMail = await db.select().from(schema.messages).where(
      eq(schema.messages.accountId, bob.id),
    );
    assertEquals(bobMail.map((m) => m.subject), ["relayed"]);
    assertEquals((await db.select().from(schema.outbox)).map((r) => r.rcptTo), [
      "far@away.example",
    ]);

    // The key's rights: Alice's own key may not send as another address of the domain …
    const other = await send("apikey", alice.key, `noreply@${DOMAIN}`);
    assert(/SENDER 5\d\d|DATA 5\d\d/.test(other), other);
    // … an admin's key restricted to the domain may.
    const domainKey = await keyFor(gw, ADMIN, { scopes: ["send"], domains: [DOMAIN] });
    const asDomain = await send("resend", domainKey.key, `noreply@${DOMAIN}`);
    assert(asDomain.includes("SENT 250"), asDomain);

    // Read-only, unknown and revoked keys: 535.
    const readOnly = await keyFor(gw, ALICE, { scopes: ["read"] });
    assert((await send("apikey", readOnly.key)).includes("AUTH 535"));
    assert((await send("apikey", "pst_" + "x".repeat(40))).includes("AUTH 535"));
    const revoked = await keyFor(gw, ALICE, { scopes: ["send"] });
    const gone = await gw.call("DELETE", `/v1/api-keys/${revoked.id}`, {
      token: await gw.login(ALICE),
    });
    assertEquals(gone.status, 204, await gone.clone().text());
    const afterRevoke = await send("apikey", revoked.key);
    assert(afterRevoke.includes("AUTH 535"), afterRevoke);
  } finally {
    await world.close();
  }
});

Deno.test("issue19#5: an API key never opens IMAP or POP3", async () => {
  const world = await startBridgeWorld();
  try {
    const { gw } = world;
    const alice = await keyFor(gw, ALICE, { scopes: ["send", "read"] });
    const admin = await gw.login(ADMIN);
    const bridge = (await (await gw.call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "b", scopes: ["bridge"] },
    })).json()).key as string;
    const client = new GatewayClient("http://gateway.internal", bridge, (req) => gw.app.fetch(req));
    assertEquals(
      await client.authenticate(ALICE.address, alice.key, "192.0.2.1", "imap"),
      undefined,
    );
    assertEquals(
      await client.authenticate(ALICE.address, alice.key, "192.0.2.1", "pop3"),
      undefined,
    );
    const smtp = await client.authenticate("apikey", alice.key, "192.0.2.1", "submission");
    assertEquals(smtp?.address, ALICE.address);
    assert(typeof smtp?.apiKeyId === "number");
  } finally {
    await world.close();
  }
});

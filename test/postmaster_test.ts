/**
 * RFC 5321 section 4.5.1: every domain the server takes mail for has a postmaster, matched
 * without regard to case, and a bare `<Postmaster>` recipient must be accepted. With no account
 * or alias of that name, the mail goes to the configured postmaster account (`postmasterAccount`,
 * default: the first admin account), over SMTP, HTTP sends and federation alike.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { startBridgeWorld } from "./fixtures/bridge.ts";
import { LineClient } from "./fixtures/line_client.ts";
import { deliver, type DeliverySource } from "../src/services/delivery.ts";
import { rawSql } from "../src/store/store.ts";

const enc = new TextEncoder();

async function inbox(gw: TestGateway, address: string): Promise<string[]> {
  const rows = await rawSql(gw.deps.store.db).all<{ subject: string }>(
    `SELECT m.subject FROM messages m JOIN accounts a ON a.id = m.account_id
     JOIN mailboxes b ON b.id = m.mailbox_id
     WHERE a.address = ? AND b.role = 'inbox' ORDER BY m.id`,
    [address],
  );
  return rows.map((r) => r.subject);
}

/** One message to `to` through the delivery pipeline (what SMTP, federation and SHARP call). */
async function deliverTo(
  gw: TestGateway,
  to: string,
  subject: string,
  source: DeliverySource = "smtp",
) {
  const raw = enc.encode(
    `From: Peer <abuse@remote.example>\r\nTo: ${to}\r\nSubject: ${subject}\r\n` +
      `Message-ID: <${crypto.randomUUID()}@remote.example>\r\n\r\nreport\r\n`,
  );
  const [r] = await deliver(gw.deps, {
    raw,
    mailFrom: "abuse@remote.example",
    recipients: [to],
    source,
  });
  return r;
}

Deno.test("issue15#10: postmaster@ a local domain, any case, reaches the first admin over every transport", async () => {
  const gw = await createTestGateway();
  try {
    // Federation and SHARP hand mail to the same pipeline.
    const viaFederation = await deliverTo(
      gw,
      `postmaster@${DOMAIN}`,
      "via federation",
      "federation",
    );
    assertEquals(viaFederation.status, "delivered", JSON.stringify(viaFederation));
    assertEquals(
      (await deliverTo(gw, `PostMaster@${DOMAIN}`, "via sharp", "sharp")).status,
      "delivered",
    );
    // An HTTP send from a local user.
    const token = await gw.login(ALICE);
    const res = await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: [`POSTMASTER@${DOMAIN}`], subject: "via http", text: "hi" },
    });
    assertEquals(res.status, 201, await res.clone().text());
    await res.body?.cancel();
    assertEquals(await inbox(gw, ADMIN.address), ["via federation", "via sharp", "via http"]);
    // Other unknown names are still refused.
    const r = await deliverTo(gw, `nobody@${DOMAIN}`, "x");
    assertEquals(r.status, "rejected");
  } finally {
    gw.close();
  }
});

Deno.test("issue15#10: postmasterAccount picks the account that gets postmaster mail", async () => {
  const gw = await createTestGateway({ postmasterAccount: ALICE.address });
  try {
    const r = await deliverTo(gw, `postmaster@${DOMAIN}`, "to alice");
    assertEquals(r.status, "delivered");
    assertEquals(await inbox(gw, ALICE.address), ["to alice"]);
    assertEquals(await inbox(gw, ADMIN.address), []);
  } finally {
    gw.close();
  }
});

Deno.test("issue15#10: SMTP RCPT TO:<postmaster> (no domain) and <POSTMASTER@domain> are accepted and delivered", async () => {
  const world = await startBridgeWorld({ config: { hostname: "mx.postern.test" } });
  const c = await LineClient.open(world.mxPort);
  try {
    assert((await c.until(/^\d{3} /)).startsWith("220"));
    assert((await c.smtp("EHLO peer.remote.example")).startsWith("250"));
    assert((await c.smtp("MAIL FROM:<abuse@remote.example>")).startsWith("250"));
    assertEquals((await c.smtp("RCPT TO:<postmaster>")).slice(0, 3), "250");
    assertEquals((await c.smtp(`RCPT TO:<POSTMASTER@${DOMAIN}>`)).slice(0, 3), "250");
    assertEquals((await c.smtp(`RCPT TO:<nobody@${DOMAIN}>`)).slice(0, 3), "550");
    assert((await c.smtp("DATA")).startsWith("354"));
    assertEquals(
      (await c.smtp(
        "From: <abuse@remote.example>\r\nSubject: over smtp\r\nMessage-ID: <pm1@remote.example>\r\n\r\nreport\r\n.",
      )).slice(0, 3),
      "250",
    );
    await c.smtp("QUIT");
    // Both recipients are the same account: stored once.
    assertEquals(await inbox(world.gw, ADMIN.address), ["over smtp"]);
  } finally {
    c.close();
    await world.close();
  }
});

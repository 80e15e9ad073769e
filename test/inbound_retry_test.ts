/**
 * A client's retry of a message whose 250 it never saw (the connection broke after DATA, the
 * bridge died, the client tried the next MX host) is stored once (issue 16 item 5). Each bridge
 * prepends a Received field of its own (RFC 5321 section 4.4: a new id and time on every
 * hand-in) and, for MX mail, its Authentication-Results; the gateway leaves those octets out
 * when it recognises a message by Message-ID and content.
 */
import { assertEquals } from "./fixtures/assert.ts";
import { ADMIN, createTestGateway } from "./fixtures/app.ts";
import { bridgeKey } from "./fixtures/bridge.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";
import { GatewayClient } from "../bridge/gateway_client.ts";
import { GatewaySmtpBackend } from "../bridge/smtp/gateway_backend.ts";
import type { Envelope } from "../bridge/smtp/backend.ts";
import { createResolver } from "../bridge/dns/resolver.ts";
import { rawSql } from "../src/store/store.ts";

Deno.test("issue16#5: the same message handed in again through another bridge is stored once", async () => {
  const gw = await createTestGateway();
  const dns = await startFakeDns({ "client.example": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] } });
  try {
    const client = new GatewayClient(
      "http://gateway.internal",
      await bridgeKey(gw),
      (req) => gw.app.fetch(req),
    );
    const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
    // Two bridges (two MX hosts of one domain), each with its own name in its trace fields.
    const mx = ["mx1.postern.test", "mx2.postern.test"].map((name) =>
      new GatewaySmtpBackend(client, name, { resolver })
    );
    const envelope: Envelope = {
      mode: "mx",
      clientIp: "127.0.0.1",
      helo: "client.example",
      tls: false,
      mailFrom: "zed@client.example",
      params: { smtputf8: false },
      rcptTo: [{ address: ADMIN.address, params: {} }],
    };
    const raw = new TextEncoder().encode(
      `From: zed@client.example\r\nTo: ${ADMIN.address}\r\nSubject: once\r\n` +
        "Message-ID: <retry-1@client.example>\r\n\r\nhello\r\n",
    );
    for (const backend of [mx[0], mx[1], mx[0]]) {
      const result = await backend.deliver(envelope, raw);
      assertEquals("recipients" in result && result.recipients.map((r) => r.code), [250]);
    }
    const sql = rawSql(gw.deps.store.db);
    const stored = await sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM messages WHERE message_id_header LIKE '%retry-1@client.example%'",
    );
    assertEquals(stored?.n, 1);

    // Another message with the same Message-ID but other content is another message.
    const other = new TextEncoder().encode(
      new TextDecoder().decode(raw).replace("hello", "something else"),
    );
    await mx[1].deliver(envelope, other);
    const both = await sql.get<{ n: number }>(
      "SELECT count(*) AS n FROM messages WHERE message_id_header LIKE '%retry-1@client.example%'",
    );
    assertEquals(both?.n, 2);
  } finally {
    await dns.close();
    gw.close();
  }
});

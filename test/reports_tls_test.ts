/**
 * SMTP TLS reports (issue 21 item 4, RFC 8460): real deliveries by the outbound worker to an SMTP
 * sink that offers STARTTLS, then to one that does not, are counted per recipient domain; once
 * the day is over the daily pass mails the gzipped JSON report to the domain's `_smtp._tls`
 * rua, and a second Postern hosting that domain parses it into its TLS report view.
 */
import { assertEquals, assertMatch } from "./fixtures/assert.ts";
import { ADMIN, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import { bridgeKey } from "./fixtures/bridge.ts";
import { startOutboundWorld } from "./fixtures/outbound.ts";
import { startSmtpSink } from "./fixtures/smtp_sink.ts";
import { dnsPort } from "../hosts/process/outbound_http.ts";
import { encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";
import { createDomain } from "../src/services/accounts.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { schema } from "../src/store/store.ts";
import { sendReports } from "../src/reports/worker.ts";

Deno.test("issue21#4: TLS results of real deliveries become a TLS report, parsed back by a second Postern", async () => {
  const world = await startOutboundWorld();
  const b = await createTestGateway({ hostname: "mx.remote.test" });
  const plain = await startSmtpSink({});
  try {
    world.dns.zone["_smtp._tls.remote.test"] = {
      TXT: ["v=TLSRPTv1; rua=mailto:postmaster@remote.test"],
    };
    world.gw.deps.dns = dnsPort({ ...world.gw.deps.config, dnsServers: world.dns.server });
    // Two messages over STARTTLS (the sink offers it), then one to a server without it.
    assertEquals((await world.send(["one@remote.test"])).status, 201);
    assertEquals((await world.send(["two@remote.test"])).status, 201);
    assertEquals(await world.worker().runOnce(), 2);
    assertEquals((await world.send(["three@remote.test"])).status, 201);
    assertEquals(await world.worker({ port: plain.port }).runOnce(), 1);
    assertEquals((await world.rows()).map((r) => r.state), ["sent", "sent", "sent"]);
    const counts = await world.gw.deps.store.db.select().from(schema.tlsCounts);
    assertEquals(
      counts.map((c) => [c.policyDomain, JSON.parse(c.rowKey)[3], c.count]).sort(),
      [["remote.test", "starttls-not-supported", 1], ["remote.test", "success", 2]],
    );

    world.advance(86_400_000);
    assertEquals(await sendReports(world.gw.deps, "w1"), 1);
    assertEquals(await world.gw.deps.store.db.select().from(schema.tlsCounts), []);
    const report = (await world.rows()).find((r) => r.rcptTo === "postmaster@remote.test")!;
    const [blob] = (await world.gw.deps.store.db.select().from(schema.blobs))
      .filter((x) => x.sha256 === report.blobSha256);
    // Blobs are sealed at rest: the report's bytes are the opened blob, as the worker sends them.
    const raw = await blobBytes(world.gw.deps.store.db, blob);
    const text = new TextDecoder().decode(raw);
    assertMatch(text, /^TLS-Report-Domain: remote\.test\r$/m);
    assertMatch(text, /^Content-Type: multipart\/report; report-type="tlsrpt"/m);
    assertMatch(text, /filename="mail\.postern\.test!remote\.test!\d+!\d+\.json\.gz"/);

    await createDomain(b.deps.store, "remote.test");
    const key = await bridgeKey(b);
    const res = await b.app.request("/v1/bridge/inbound", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": MAIL_MEDIA_TYPE },
      body: encodeMail({
        mailFrom: `postmaster@${DOMAIN}`,
        recipients: ["postmaster@remote.test"],
        clientIp: "192.0.2.25",
        helo: "mail.postern.test",
      }, raw),
    });
    assertEquals(res.status, 200, await res.clone().text());
    const admin = await b.login(ADMIN);
    const view = await (await b.call("GET", "/v1/admin/reports/tls?domain=remote.test", {
      token: admin,
    })).json();
    assertEquals(view.items.length, 1);
    const [r] = view.items;
    assertEquals([r.orgName, r.total, r.failed], ["mail.postern.test", 3, 1]);
    assertEquals(r.data.policies[0].policyType, "no-policy-found");
    assertEquals(r.data.policies[0].failureDetails[0].resultType, "starttls-not-supported");
  } finally {
    await plain.close();
    b.close();
    await world.close();
  }
});

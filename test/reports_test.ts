/**
 * Reports (issue 21 item 4). DMARC aggregate: mail arrives over SMTP at one Postern's MX (its
 * SPF/DKIM/DMARC checks through a fake DNS), each evaluation is counted; once the day is over the
 * daily pass sends the report to the sender domain's rua (external destinations only when they
 * agreed, RFC 7489 section 7.1), and a second Postern, which hosts that domain, receives the
 * message and shows the parsed report through its admin API. Also: zip and TLS-RPT reports,
 * hostile files (refused, never failing the delivery), and who may read the reports.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { bridgeKey, python } from "./fixtures/bridge.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";
import { startWorldMx } from "./fixtures/outbound.ts";
import { createResolver } from "../bridge/dns/resolver.ts";
import { dnsPort } from "../hosts/process/outbound_http.ts";
import { encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";
import { schema } from "../src/store/store.ts";
import { createDomain } from "../src/services/accounts.ts";
import { sendReports } from "../src/reports/worker.ts";
import { gzip, MAX_REPORT_BYTES } from "../src/reports/archive.ts";
import { reportRows } from "../src/reports/receive.ts";
import { reportMessage } from "../src/reports/dmarc_send.ts";
import { composeTlsReport } from "../src/reports/tlsrpt_report.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { runCli } from "./fixtures/cli_run.ts";

const DAY = 86_400_000;
const SENDER = "sender.test";

const SEND = `
import smtplib, sys
port, helo, sender, rcpt, msg = sys.argv[1:6]
s = smtplib.SMTP('127.0.0.1', int(port), local_hostname=helo)
try:
    s.sendmail(sender, [rcpt], msg.encode())
    print(250)
except smtplib.SMTPDataError as e:
    print(e.smtp_code)
s.quit()
`;

/** Hands `raw` to `gw` as MX mail for `rcpt` (the bridge's inbound route). */
async function handIn(gw: TestGateway, key: string, rcpt: string, raw: Uint8Array) {
  const res = await gw.app.request("/v1/bridge/inbound", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": MAIL_MEDIA_TYPE },
    body: encodeMail({
      mailFrom: `postmaster@${DOMAIN}`,
      recipients: [rcpt],
      clientIp: "192.0.2.25",
      helo: "mx.postern.test",
    }, raw),
  });
  assertEquals(res.status, 200, await res.clone().text());
  return (await res.json()).results[0].status as string;
}

const reportsOf = async (gw: TestGateway, token: string, kind: string, domain = SENDER) =>
  await gw.call("GET", `/v1/admin/reports/${kind}?domain=${domain}`, { token });

Deno.test("issue21#4: a DMARC report made from real SMTP deliveries is parsed back by a second Postern", async () => {
  const dns = await startFakeDns({
    [SENDER]: { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
    [`_dmarc.${SENDER}`]: {
      TXT: [`v=DMARC1; p=quarantine; rua=mailto:postmaster@${SENDER},mailto:dmarc@third.test`],
    },
    "other.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
    "_dmarc.other.test": { TXT: ["v=DMARC1; p=none; rua=mailto:rua@collector.test!10m"] },
    // collector.test agreed to take other.test's reports (section 7.1); third.test did not.
    "other.test._report._dmarc.collector.test": { TXT: ["v=DMARC1"] },
    // p=reject: a forgery is refused at DATA, and still counted in the report.
    "strict.test": { TXT: ["v=spf1 -all"] },
    "_dmarc.strict.test": { TXT: ["v=DMARC1; p=reject; rua=mailto:postmaster@strict.test"] },
  });
  const a = await createTestGateway({ hostname: "mx.postern.test" });
  const b = await createTestGateway({ hostname: "mx.sender.test" });
  try {
    a.deps.dns = dnsPort({ ...a.deps.config, dnsServers: dns.server });
    const aKey = await bridgeKey(a);
    const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
    const mx = await startWorldMx({ gw: a, bridgeKey: aKey }, resolver);
    try {
      const mail = (from: string, n: number) =>
        `From: ${from}\r\nTo: ${ALICE.address}\r\nSubject: m${n}\r\nMessage-ID: <m${n}@x>\r\n\r\nhi\r\n`;
      // Two aligned passes and one forgery (SPF for spoof.test, From sender.test: DMARC fail,
      // p=quarantine), one from other.test, and a forgery of strict.test (p=reject: 550).
      const messages = [
        ["mx.sender.test", `a@${SENDER}`, `a@${SENDER}`, "250"],
        ["mx.sender.test", `b@${SENDER}`, `b@${SENDER}`, "250"],
        ["spoof.test", "x@spoof.test", `ceo@${SENDER}`, "250"],
        ["mx.other.test", "o@other.test", "o@other.test", "250"],
        ["spoof.test", "x@spoof.test", "ceo@strict.test", "550"],
      ];
      for (const [n, [helo, envelope, from, code]] of messages.entries()) {
        const args = [String(mx.port), helo, envelope, ALICE.address, mail(from, n)];
        assertEquals((await python(SEND, args)).trim(), code, `message ${n}`);
      }
    } finally {
      await mx.close();
    }
    let counts = await a.deps.store.db.select().from(schema.dmarcCounts);
    // The refusal is counted beside the 550, not before it: wait for it (bounded).
    for (let i = 0; i < 50 && counts.length < 4; i++) {
      await new Promise((r) => setTimeout(r, 50));
      counts = await a.deps.store.db.select().from(schema.dmarcCounts);
    }
    assertEquals(counts.reduce((n, c) => n + c.count, 0), 5, JSON.stringify(counts));
    const strict = counts.find((c) => c.headerFrom === "strict.test")!;
    assertEquals(JSON.parse(strict.rowKey).slice(1, 4), ["reject", "fail", "fail"]);

    // Nothing is owed before the day is over.
    assertEquals(await sendReports(a.deps, "w1"), 0);
    const now = Date.now();
    a.deps.clock = { now: () => now + DAY };
    assertEquals(await sendReports(a.deps, "w1"), 3);
    assertEquals(await a.deps.store.db.select().from(schema.dmarcCounts), []);
    assertEquals(await sendReports(a.deps, "w1"), 0, "each report is sent once");
    const rows = await a.deps.store.db.select().from(schema.outbox);
    assertEquals(rows.map((r) => r.rcptTo).sort(), [
      `postmaster@${SENDER}`,
      "postmaster@strict.test",
      "rua@collector.test",
    ]);
    const toSender = rows.find((r) => r.rcptTo === `postmaster@${SENDER}`)!;
    assertEquals(toSender.mailFrom, `postmaster@${DOMAIN}`);
    const sameBlob = (await a.deps.store.db.select().from(schema.blobs))
      .find((x) => x.sha256 === toSender.blobSha256)!;
    // The stored blob is sealed at rest: read it through the real decoding path.
    const reportBytes = await blobBytes(a.deps.store.db, sameBlob);
    const text = new TextDecoder().decode(reportBytes);
    assertMatch(
      text,
      /^Subject: Report Domain: sender\.test Submitter: mx\.postern\.test Report-ID: <[^>]+>\r$/m,
    );
    assertMatch(text, /filename="mx\.postern\.test!sender\.test!\d+!\d+\.xml\.gz"/);
    assertMatch(text, /Content-Type: application\/gzip/);

    // The second Postern hosts sender.test; its postmaster takes the report.
    await createDomain(b.deps.store, SENDER);
    const bKey = await bridgeKey(b);
    assertEquals(
      await handIn(b, bKey, `postmaster@${SENDER}`, reportBytes),
      "delivered",
    );
    const admin = await b.login(ADMIN);
    const res = await reportsOf(b, admin, "dmarc");
    assertEquals(res.status, 200, await res.clone().text());
    const { items } = await res.json();
    assertEquals(items.length, 1);
    const [report] = items;
    assertEquals([report.domain, report.orgName, report.total, report.failed], [
      SENDER,
      "mx.postern.test",
      3,
      1,
    ]);
    assertEquals(report.data.policy.p, "quarantine");
    const byDisposition = Object.fromEntries(
      report.data.rows.map((r: { disposition: string; count: number; spf: string }) => [
        r.disposition,
        [r.count, r.spf],
      ]),
    );
    assertEquals(byDisposition, { none: [2, "pass"], quarantine: [1, "fail"] });
    // Sent again (a retried delivery): kept once.
    await handIn(b, bKey, `postmaster@${SENDER}`, reportBytes);
    assertEquals((await (await reportsOf(b, admin, "dmarc")).json()).items.length, 1);
  } finally {
    a.close();
    b.close();
    await dns.close();
  }
});

/** A zip archive of one deflated file (local header, data, central directory, end record). */
async function zipOf(name: string, data: Uint8Array, flags = 0): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  const body = new Uint8Array(await new Response(stream).arrayBuffer());
  const n = new TextEncoder().encode(name);
  const local = new DataView(new ArrayBuffer(30));
  local.setUint32(0, 0x04034b50, true);
  local.setUint16(6, flags, true);
  local.setUint16(8, 8, true);
  local.setUint32(18, body.byteLength, true);
  local.setUint32(22, data.byteLength, true);
  local.setUint16(26, n.byteLength, true);
  const central = new DataView(new ArrayBuffer(46));
  central.setUint32(0, 0x02014b50, true);
  central.setUint16(8, flags, true);
  central.setUint16(10, 8, true);
  central.setUint32(20, body.byteLength, true);
  central.setUint32(24, data.byteLength, true);
  central.setUint16(28, n.byteLength, true);
  const cdOffset = 30 + n.byteLength + body.byteLength;
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, 1, true);
  end.setUint16(10, 1, true);
  end.setUint32(12, 46 + n.byteLength, true);
  end.setUint32(16, cdOffset, true);
  return new Uint8Array(
    await new Blob([local, n, body, central, n, end] as BlobPart[]).arrayBuffer(),
  );
}

const REPORT = (domain: string, id = "r-1") =>
  `<?xml version="1.0"?><feedback><report_metadata><org_name>Big &amp; Co</org_name>` +
  `<email>noreply@big.example</email><report_id>${id}</report_id><date_range>` +
  `<begin>1796601600</begin><end>1796687999</end></date_range></report_metadata>` +
  `<policy_published><domain>${domain}</domain><p>reject</p></policy_published>` +
  `<record><row><source_ip>192.0.2.9</source_ip><count>7</count><policy_evaluated>` +
  `<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>` +
  `<identifiers><header_from>${domain}</header_from></identifiers><auth_results><dkim>` +
  `<domain>${domain}</domain><result>pass</result></dkim></auth_results></record></feedback>`;

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("issue21#4: hostile report files are refused, and never fail the delivery", async () => {
  const bomb = await gzip(new Uint8Array(MAX_REPORT_BYTES + 1024));
  const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
    `<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><feedback>&lol2;</feedback>`;
  const external = `<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>` +
    `<feedback>&x;</feedback>`;
  const deep = "<feedback>" + "<a>".repeat(100) + "</a>".repeat(100) + "</feedback>";
  const cases: [string, Uint8Array, RegExp][] = [
    ["entity expansion", enc(laughs), /document type/],
    ["external entity", enc(external), /document type/],
    ["gzip bomb", bomb, /larger than/],
    ["deep nesting", enc(deep), /nested too deep/],
    ["undeclared entity", enc(REPORT("postern.test").replace("&amp;", "&boom;")), /entity/],
    ["unclosed", enc("<feedback><report_metadata>"), /never closed/],
    ["not a report", enc("<html><body>hi</body></html>"), /not a DMARC report/],
    ["bad count", enc(REPORT("postern.test").replace("<count>7", "<count>-7")), /count/],
    ["encrypted zip", await zipOf("r.xml", enc(REPORT("postern.test")), 1), /encrypted/],
    ["truncated gzip", (await gzip(enc(REPORT("postern.test")))).slice(0, 40), /decompress/],
    ["JSON garbage", enc('{"policies": 5}'), /lacks|policies/],
  ];
  for (const [what, file, why] of cases) {
    const rows = await reportRows(file);
    assert(typeof rows === "string", `${what}: refused`);
    assertMatch(rows as string, why);
  }

  // Through the MX path: the message is stored in the postmaster's mailbox, no report row.
  const gw = await createTestGateway();
  try {
    const key = await bridgeKey(gw);
    const raw = reportMessage({
      from: "x@big.example",
      to: [`postmaster@${DOMAIN}`],
      subject: `Report Domain: ${DOMAIN} Submitter: big.example Report-ID: <1>`,
      filename: "big.example!postern.test!1!2.xml.gz",
      contentType: "application/gzip",
      body: "report",
      attachment: bomb,
      messageId: "<bomb@big.example>",
      date: Date.now(),
    });
    assertEquals(await handIn(gw, key, `postmaster@${DOMAIN}`, raw), "delivered");
    assertEquals(await gw.deps.store.db.select().from(schema.receivedReports), []);
  } finally {
    gw.close();
  }
});

Deno.test("issue21#4: zip DMARC and TLS-RPT reports are received; only admins of the domain read them", async () => {
  const gw = await createTestGateway();
  try {
    const key = await bridgeKey(gw);
    const message = (filename: string, contentType: string, file: Uint8Array, id: string) =>
      reportMessage({
        from: "reports@big.example",
        to: [`postmaster@${DOMAIN}`],
        subject: `Report Domain: ${DOMAIN} Submitter: big.example Report-ID: <${id}>`,
        filename,
        contentType,
        body: "report",
        attachment: file,
        messageId: `<${id}@big.example>`,
        date: Date.now(),
      });
    const zip = await zipOf("big.example!postern.test!1!2.xml", enc(REPORT(DOMAIN)));
    assertEquals(
      await handIn(
        gw,
        key,
        `postmaster@${DOMAIN}`,
        message("r.zip", "application/zip", zip, "z1"),
      ),
      "delivered",
    );
    // A report about a domain that is not ours is not kept.
    await handIn(
      gw,
      key,
      `postmaster@${DOMAIN}`,
      message("o.xml", "text/xml", enc(REPORT("elsewhere.example", "r-2")), "x2"),
    );
    const tls = composeTlsReport({
      organizationName: "Big Co",
      contactInfo: "tls@big.example",
      reportId: "tls-1",
      start: Date.UTC(2026, 11, 6),
      end: Date.UTC(2026, 11, 6, 23, 59, 59),
      policies: [{
        policyType: "sts",
        policyDomain: DOMAIN,
        policyString: ["version: STSv1", "mode: enforce"],
        mxHost: ["mx.postern.test"],
        successful: 40,
        failed: 2,
        failureDetails: [{
          resultType: "certificate-expired",
          sendingMta: "192.0.2.9",
          receivingMx: "mx.postern.test",
          count: 2,
        }],
      }],
    });
    await handIn(
      gw,
      key,
      `postmaster@${DOMAIN}`,
      message("t.json.gz", "application/tlsrpt+gzip", await gzip(enc(tls)), "t1"),
    );

    const admin = await gw.login(ADMIN);
    const dmarc = await (await reportsOf(gw, admin, "dmarc", DOMAIN)).json();
    assertEquals(dmarc.items.map((r: { orgName: string; total: number }) => [r.orgName, r.total]), [
      ["Big & Co", 7],
    ]);
    const tlsView = await (await reportsOf(gw, admin, "tls", DOMAIN)).json();
    assertEquals(
      tlsView.items.map((r: { total: number; failed: number }) => [r.total, r.failed]),
      [[42, 2]],
    );
    assertEquals(
      tlsView.items[0].data.policies[0].failureDetails[0].resultType,
      "certificate-expired",
    );

    // A plain user may not read them; a domain administrator of another domain sees 404.
    const alice = await gw.login(ALICE);
    const refused = await reportsOf(gw, alice, "dmarc", DOMAIN);
    assertEquals(refused.status, 403);
    await refused.body?.cancel();
    await createDomain(gw.deps.store, "other.test");
    const admins = await gw.deps.store.db.select().from(schema.accounts);
    const aliceId = admins.find((x) => x.address === ALICE.address)!.id;
    const patch = await gw.call("PATCH", `/v1/admin/accounts/${aliceId}`, {
      token: admin,
      body: { adminDomains: ["other.test"] },
    });
    assertEquals(patch.status, 200, await patch.clone().text());
    const alice2 = await gw.login(ALICE);
    const hidden = await reportsOf(gw, alice2, "dmarc", DOMAIN);
    assertEquals(hidden.status, 404, await hidden.clone().text());
    await hidden.body?.cancel();
    const own = await (await gw.call("GET", "/v1/admin/reports/dmarc", { token: alice2 })).json();
    assertEquals(own.items, []);
  } finally {
    gw.close();
  }
});

Deno.test("issue21#4: postern reports dmarc|tls prints the received reports", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-reports-" });
  const env = {
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_ADMIN_PASSWORD: "admin-password-for-tests",
  };
  try {
    assertEquals((await runCli(["init"], env)).code, 0);
    // A received report, as the delivery pipeline stores it (its parsing is tested above).
    const rows = await reportRows(enc(REPORT("postern.localhost")));
    assert(typeof rows !== "string");
    const store = await openStore(`file:${dir}/data/postern.db`);
    try {
      const [r] = rows;
      await store.batch([{
        sql: `INSERT INTO received_reports (kind, domain, org_name, report_id, begin, "end", data,
          total, failed, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        args: [
          r.kind,
          r.domain,
          r.orgName,
          r.reportId,
          r.begin,
          r.end,
          JSON.stringify(r.data),
          r.total,
          r.failed,
          Date.now(),
        ],
      }]);
    } finally {
      store.close();
    }
    const listed = await runCli(["reports", "dmarc", "--local", "--rows"], env);
    assertEquals(listed.code, 0, listed.stderr);
    assertMatch(listed.stdout, /^DOMAIN\s+FROM\s+DAY\s+MESSAGES\s+FAILED/);
    assertMatch(listed.stdout, /postern\.localhost\s+Big & Co\s+2026-12-\d\d\s+7\s+0\s+r-1/);
    assertMatch(listed.stdout, /192\.0\.2\.9\s+7\s+none\s+pass\s+fail/);
    const json = JSON.parse((await runCli(["reports", "dmarc", "--local", "--json"], env)).stdout);
    assertEquals(json.items[0].total, 7);
    const tls = await runCli(["reports", "tls", "--local"], env);
    assertEquals(tls.stdout.trim(), "no TLS reports");
    assertEquals((await runCli(["reports", "dmarc", "--local", "--limit", "0"], env)).code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

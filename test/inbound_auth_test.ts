/**
 * Inbound authentication end to end: Python's smtplib sends to the real MX listener, the bridge
 * checks SPF/DKIM/DMARC through the resolver pointed at a fake DNS server, and the gateway
 * stores the verdicts (GET /v1/messages/{id} → authentication) and the Authentication-Results
 * field (RFC 8601) on top of the raw message. Also the RFC 8463 A.3 DKIM vectors.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE } from "./fixtures/app.ts";
import { type BridgeWorld, findStored, python, startBridgeWorld } from "./fixtures/bridge.ts";
import { type FakeDns, startFakeDns, type Zone } from "./fixtures/fake_dns.ts";
import { dkimKey, rfc5322, signMessage } from "./fixtures/auth_mail.ts";
import { createResolver } from "../bridge/dns/resolver.ts";
import type { GatewayBackendOptions } from "../bridge/smtp/gateway_backend.ts";
import { authenticateInbound } from "../bridge/smtp/inbound_auth.ts";
import { createMailauthThread } from "../hosts/process/mailauth_thread.ts";
import { schema } from "../src/store/store.ts";

const MX = "mx.postern.test";
const HELO = "mail.remote.example";

const SEND = `
import smtplib, sys, base64
port, helo, sender, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
msg = base64.b64decode(sys.argv[5])
with smtplib.SMTP("127.0.0.1", port, local_hostname=helo) as s:
    try:
        s.sendmail(sender, [rcpt], msg)
        print("SENT")
    except smtplib.SMTPDataError as e:
        print("REFUSED", e.smtp_code, e.smtp_error.decode())
`;

async function send(world: BridgeWorld, from: string, message: string): Promise<string> {
  const b64 = btoa(message);
  return (await python(SEND, [String(world.mxPort), HELO, from, ALICE.address, b64])).trim();
}

const RSA = dkimKey("rsa");

const ZONE: Zone = {
  // (a) everything passes: SPF allows loopback, DKIM key published, DMARC p=reject.
  "good.example": { TXT: ["v=spf1 ip4:127.0.0.1 -all"], MX: ["10 mx.good.example"] },
  "s1._domainkey.good.example": { TXT: [RSA.record] },
  "_dmarc.good.example": { TXT: ["v=DMARC1; p=reject; adkim=s; aspf=r"] },
  // (b) quarantine, directly and through sp= for a subdomain.
  "quarantine.example": { TXT: ["v=spf1 -all"] },
  "_dmarc.quarantine.example": { TXT: ["v=DMARC1; p=quarantine"] },
  "parent.example": { TXT: ["v=spf1 -all"] },
  "sub.parent.example": { TXT: ["v=spf1 -all"], A: ["192.0.2.7"] },
  "_dmarc.parent.example": { TXT: ["v=DMARC1; p=none; sp=quarantine"] },
  // (c) reject.
  "reject.example": { TXT: ["v=spf1 -all"] },
  "_dmarc.reject.example": { TXT: ["v=DMARC1; p=reject"] },
  // (d) softfail and none, no DMARC record.
  "soft.example": { TXT: ["v=spf1 ~all"] },
  "nospf.example": { A: ["192.0.2.8"] },
};

async function withWorld(
  fn: (world: BridgeWorld, dns: FakeDns) => Promise<void>,
  backend?: Omit<GatewayBackendOptions, "resolver">,
) {
  const dns = await startFakeDns(structuredClone(ZONE));
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const world = await startBridgeWorld({ resolver, backend });
  try {
    await fn(world, dns);
  } finally {
    await world.close();
    await dns.close();
  }
}

Deno.test("MX: DKIM-signed mail from an SPF-allowed IP passes SPF, DKIM and DMARC", async () => {
  await withWorld(async (world) => {
    const message = await signMessage(
      rfc5322([
        "From: Gus <gus@good.example>",
        `To: ${ALICE.address}`,
        "Subject: signed and aligned",
        "Message-ID: <a1@good.example>",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
      ], "Signed body.\r\n"),
      { domain: "good.example", selector: "s1", key: RSA },
    );
    assertEquals(await send(world, "gus@good.example", message), "SENT");
    const stored = await findStored(world, "signed and aligned");
    assert(stored, "stored");
    assertEquals(stored.mailbox, "inbox");
    const auth = stored.detail.authentication!;
    assertEquals(auth.spf, { result: "pass", domain: "good.example" });
    assertEquals(auth.dkim, [{
      result: "pass",
      domain: "good.example",
      selector: "s1",
      algo: "rsa-sha256",
      aligned: true,
    }]);
    assertEquals(auth.dmarc, {
      result: "pass",
      policy: "reject",
      domain: "good.example",
      // What the aggregate report's policy_evaluated says (issue 21 item 4).
      spfAligned: true,
      dkimAligned: true,
      policyDomain: "good.example",
    });
    assertEquals(auth.arc, { result: "none" });
    assertEquals(auth.disposition, "accept");
    assertEquals(auth.clientIp, "127.0.0.1"); // the gateway's own envelope fields stay beside
    assert(stored.raw.startsWith(`Authentication-Results: ${MX};\r\n`), stored.raw.slice(0, 300));
    const fields = stored.raw.split(/\r\n(?![ \t])/);
    assert(/^Received: from mail\.remote\.example/.test(fields[1]), fields[1]);
    assert(/ dkim=pass header\.[di]=@?good\.example .*header\.s=s1/s.test(fields[0]), fields[0]);
    assert(/ spf=pass .*smtp\.mailfrom=(gus@)?good\.example/s.test(fields[0]), fields[0]);
    assert(/ arc=none /.test(fields[0]), fields[0]);
    assert(/ dmarc=pass .*header\.from=good\.example/s.test(fields[0]), fields[0]);
    assert(stored.raw.endsWith("\r\n\r\nSigned body.\r\n"), "the body is kept byte for byte");
  });
});

Deno.test("MX: DMARC fail under p=quarantine (or sp=quarantine for a subdomain) lands in Junk", async () => {
  await withWorld(async (world) => {
    for (
      const [from, subject] of [["q@quarantine.example", "quarantined"], [
        "s@sub.parent.example",
        "subdomain quarantined",
      ]]
    ) {
      const message = rfc5322([`From: ${from}`, `To: ${ALICE.address}`, `Subject: ${subject}`]);
      assertEquals(await send(world, from, message), "SENT");
      const stored = await findStored(world, subject);
      assert(stored, subject);
      assertEquals(stored.mailbox, "junk", subject);
      const auth = stored.detail.authentication!;
      assertEquals((auth.spf as { result: string }).result, "fail");
      assertEquals((auth.dmarc as { result: string; policy: string }).result, "fail");
      assertEquals((auth.dmarc as { policy: string }).policy, "quarantine");
      assertEquals(auth.disposition, "junk");
      assert(/ dmarc=fail /.test(stored.raw.split("\r\n\r\n")[0]), stored.raw.slice(0, 400));
    }
  });
});

Deno.test("MX: DMARC fail under p=reject is refused with 550 5.7.1 after DATA; nothing stored", async () => {
  await withWorld(async (world) => {
    const message = rfc5322([
      "From: Boss <boss@reject.example>",
      `To: ${ALICE.address}`,
      "Subject: wire the money",
    ]);
    const out = await send(world, "boss@reject.example", message);
    assertEquals(out, "REFUSED 550 5.7.1 DMARC policy reject");
    assertEquals(await world.gw.deps.store.db.select().from(schema.messages), []);
    assertEquals(await world.gw.deps.store.db.select().from(schema.blobs), []);
  });
});

Deno.test("MX: unsigned mail from the envelope sender's domain is checked once per envelope, ahead of DATA", async () => {
  const checked: string[] = [];
  const authenticate: GatewayBackendOptions["authenticate"] = (input, options) => {
    checked.push(new TextDecoder().decode(input.message).split("\r\n")[0]);
    return authenticateInbound(input, options);
  };
  await withWorld(async (world) => {
    const to = `To: ${ALICE.address}`;
    for (const n of [1, 2, 3]) {
      const message = rfc5322([`From: Q <q@quarantine.example>`, to, `Subject: shared ${n}`]);
      assertEquals(await send(world, "q@quarantine.example", message), "SENT");
      const stored = await findStored(world, `shared ${n}`);
      assertEquals(stored?.mailbox, "junk", `message ${n}`);
      assertEquals(stored?.detail.authentication?.disposition, "junk");
      assert(/ dmarc=fail /.test(stored!.raw.split("\r\n\r\n")[0]), stored!.raw.slice(0, 400));
    }
    assertEquals(checked, ["From: <q@quarantine.example>"], "one check, of the envelope alone");
    // DMARC reject still refuses every message, though the verdict is shared.
    for (const n of [1, 2]) {
      const message = rfc5322(["From: <boss@reject.example>", to, `Subject: wire ${n}`]);
      assertEquals(
        await send(world, "boss@reject.example", message),
        "REFUSED 550 5.7.1 DMARC policy reject",
      );
    }
    assertEquals(checked.length, 2);
    // A signed message, or a From in another domain, is checked in full: its bytes go to mailauth.
    const signed = await signMessage(rfc5322(["From: <a@good.example>", to, "Subject: signed"]), {
      domain: "good.example",
      selector: "s1",
      key: RSA,
    });
    assertEquals(await send(world, "q@quarantine.example", signed), "SENT");
    const other = rfc5322(["From: <q@soft.example>", to, "Subject: other author"]);
    assertEquals(await send(world, "q@quarantine.example", other), "SENT");
    assertEquals(checked.length, 4, checked.join(" | "));
    assert(checked[2].startsWith("DKIM-Signature:"), checked[2]);
    assertEquals(checked[3], "From: <q@soft.example>");
    assertEquals((await findStored(world, "other author"))?.detail.authentication?.dmarc, {
      result: "none",
      policy: "none",
      domain: "soft.example",
    });
  }, { authenticate, envelopeVerdictMs: 60_000 });
});

Deno.test("MX: SPF softfail and none without DMARC are accepted into the Inbox and recorded", async () => {
  await withWorld(async (world) => {
    const cases = [
      ["s@soft.example", "softfail case", "softfail"],
      ["n@nospf.example", "none case", "none"],
      ["x@unknown-domain.example", "nxdomain case", "none"],
    ];
    for (const [from, subject, spf] of cases) {
      const message = rfc5322([`From: ${from}`, `To: ${ALICE.address}`, `Subject: ${subject}`]);
      assertEquals(await send(world, from, message), "SENT");
      const stored = await findStored(world, subject);
      assert(stored, subject);
      assertEquals(stored.mailbox, "inbox", subject);
      const auth = stored.detail.authentication!;
      assertEquals(auth.spf, { result: spf, domain: from.split("@")[1] }, subject);
      assertEquals((auth.dmarc as { result: string }).result, "none", subject);
      assertEquals(auth.disposition, "accept");
      assert(new RegExp(` spf=${spf} `).test(stored.raw), stored.raw.slice(0, 400));
    }
  });
});

Deno.test("MX: a sender's Authentication-Results claiming our authserv-id is removed, others kept", async () => {
  await withWorld(async (world) => {
    const message = rfc5322([
      `Authentication-Results: ${MX}; dkim=pass header.d=bank.example; spf=pass`,
      `Authentication-Results: (forged) "MX.Postern.Test";\r\n dmarc=pass header.from=bank.example`,
      "Authentication-Results: relay.other.example; spf=pass smtp.mailfrom=s@soft.example",
      "From: s@soft.example",
      `To: ${ALICE.address}`,
      "Subject: spoofed results",
    ]);
    assertEquals(await send(world, "s@soft.example", message), "SENT");
    const stored = await findStored(world, "spoofed results");
    assert(stored);
    const header = stored.raw.split("\r\n\r\n")[0];
    const ars = header.split(/\r\n(?![ \t])/).filter((f) => /^authentication-results:/i.test(f));
    assertEquals(ars.length, 2, header);
    assert(ars[0].startsWith(`Authentication-Results: ${MX};\r\n`), ars[0]);
    assert(/ spf=softfail /.test(ars[0]), ars[0]);
    assert(!header.includes("bank.example"), header);
    assertEquals(
      ars[1],
      "Authentication-Results: relay.other.example; spf=pass smtp.mailfrom=s@soft.example",
    );
  });
});

Deno.test("submission: authenticated mail is not checked (no Authentication-Results)", async () => {
  await withWorld(async (world, dns) => {
    const before = dns.queries.length;
    const out = await python(
      `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[4]); ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.starttls(context=ctx); s.login(sys.argv[2], sys.argv[3])
    s.sendmail(sys.argv[2], [sys.argv[2]], "From: %s\\r\\nSubject: self\\r\\n\\r\\nhi\\r\\n" % sys.argv[2])
print("SENT")
`,
      [String(world.submissionPort), ALICE.address, ALICE.password, world.certFile],
    );
    assertEquals(out.trim(), "SENT");
    const stored = await findStored(world, "self");
    assert(stored);
    assert(!/^Authentication-Results:/im.test(stored.raw.split("\r\n\r\n")[0]), stored.raw);
    assertEquals(dns.queries.length, before, "no DNS lookups for submission");
  });
});

Deno.test("RFC 8463 A.3: the ed25519 and rsa signatures verify through our resolver", async () => {
  const data = new URL("./data/dkim/", import.meta.url);
  const zone = JSON.parse(await Deno.readTextFile(new URL("rfc8463-zone.json", data))) as Zone;
  const eml = (await Deno.readTextFile(new URL("rfc8463-A3.eml", data)))
    .replace(/\r?\n/g, "\r\n");
  const dns = await startFakeDns(zone);
  try {
    const verdict = await authenticateInbound({
      clientIp: "192.0.2.1",
      helo: "mail.football.example.com",
      mailFrom: "joe@football.example.com",
      message: new TextEncoder().encode(eml),
    }, { resolver: createResolver({ servers: [dns.server], tries: 1 }), hostname: MX });
    assertEquals(
      verdict.dkim.map((d) => [d.algo, d.selector, d.domain, d.result]),
      [
        ["ed25519-sha256", "brisbane", "football.example.com", "pass"],
        ["rsa-sha256", "test", "football.example.com", "pass"],
      ],
    );
    // Tampering with a signed header breaks both signatures.
    const tampered = eml.replace("Subject: Is dinner ready?", "Subject: Is dinner ready?!");
    const bad = await authenticateInbound({
      clientIp: "192.0.2.1",
      helo: "mail.football.example.com",
      mailFrom: "joe@football.example.com",
      message: new TextEncoder().encode(tampered),
    }, { resolver: createResolver({ servers: [dns.server], tries: 1 }), hostname: MX });
    assertEquals(bad.dkim.map((d) => d.result), ["fail", "fail"]);
  } finally {
    await dns.close();
  }
});

Deno.test("the mailauth thread gives the verdicts this thread gives, DNS errors included", async () => {
  const dns = await startFakeDns(structuredClone(ZONE));
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const thread = createMailauthThread(resolver);
  try {
    const signed = await signMessage(
      rfc5322([
        "From: Gus <gus@good.example>",
        `To: ${ALICE.address}`,
        "Subject: threaded",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
      ], "Signed body.\r\n"),
      { domain: "good.example", selector: "s1", key: RSA },
    );
    const plain = (from: string) =>
      rfc5322([`From: <${from}>`, `To: ${ALICE.address}`, "Subject: plain"], "Body.\r\n");
    const cases: [string, string][] = [
      ["gus@good.example", signed],
      ["q@quarantine.example", plain("q@quarantine.example")],
      ["r@reject.example", plain("r@reject.example")],
      ["s@soft.example", plain("s@soft.example")],
      ["n@nospf.example", plain("n@nospf.example")], // TXT: no such record (ENODATA)
      ["x@unknown.example", plain("x@unknown.example")], // no such name (ENOTFOUND)
    ];
    for (const [mailFrom, message] of cases) {
      const input = {
        clientIp: "127.0.0.1",
        helo: HELO,
        mailFrom,
        message: new TextEncoder().encode(message),
      };
      const options = { resolver, hostname: MX };
      const here = await authenticateInbound(input, options);
      const there = await thread.authenticateInbound(input, options);
      assertEquals(there, here, mailFrom);
    }
  } finally {
    thread.close();
    await dns.close();
  }
});

import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import { dkimKey, memoryResolver, rfc5322, signMessage } from "../../test/fixtures/auth_mail.ts";
import type { Zone } from "../../test/fixtures/fake_dns.ts";
import { Buffer } from "node:buffer";
import { sealMessage } from "mailauth";
import {
  addressOfReverseName,
  authenticateInbound,
  dmarcDisposition,
  stripOwnAuthResults,
} from "./inbound_auth.ts";

const MX = "mx.postern.test";
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const check = (zone: Zone, input: { ip?: string; from: string; message: string }, opts: {
  timeouts?: string[];
  random?: () => number;
} = {}) =>
  authenticateInbound({
    clientIp: input.ip ?? "192.0.2.1",
    helo: "mail.sender.example",
    mailFrom: input.from,
    message: enc(input.message),
  }, { resolver: memoryResolver(zone, opts.timeouts), hostname: MX, random: opts.random });

Deno.test("stripOwnAuthResults removes only fields claiming our authserv-id (RFC 8601 section 5)", () => {
  const message = [
    "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000",
    `Authentication-Results: ${MX}; spf=pass`,
    "authentication-results:MX.POSTERN.TEST;\r\n\tdkim=pass header.d=bank.example",
    `Authentication-Results: (a (nested) comment) "${MX}" 1; dmarc=pass`,
    "Authentication-Results: mx.postern.test.evil.example; spf=pass",
    "Authentication-Results: other.example;\r\n spf=pass smtp.mailfrom=x@mx.postern.test",
    "Subject: hi",
    "",
    `Authentication-Results: ${MX}; in the body, untouched`,
    "",
  ].join("\r\n");
  const out = dec(stripOwnAuthResults(enc(message), MX));
  assertEquals(
    out,
    [
      "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000",
      "Authentication-Results: mx.postern.test.evil.example; spf=pass",
      "Authentication-Results: other.example;\r\n spf=pass smtp.mailfrom=x@mx.postern.test",
      "Subject: hi",
      "",
      `Authentication-Results: ${MX}; in the body, untouched`,
      "",
    ].join("\r\n"),
  );
  const clean = enc("Subject: x\r\n\r\nbody\r\n");
  assert(stripOwnAuthResults(clean, MX) === clean, "nothing to strip: the same bytes back");
  assertEquals(
    dec(stripOwnAuthResults(enc(`Authentication-Results: ${MX}; none\nSubject: x\n\nb\n`), MX)),
    "Subject: x\n\nb\n",
  );
});

Deno.test("reverse names become the address the Resolver port's ptr() takes", () => {
  assertEquals(addressOfReverseName("4.3.2.1.in-addr.arpa"), "1.2.3.4");
  assertEquals(
    addressOfReverseName(
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.E.B.A.B.E.F.A.C.ip6.arpa.",
    ),
    "cafe:babe:0000:0000:0000:0000:0000:0001",
  );
  assertEquals(addressOfReverseName("example.com"), undefined);
  assertEquals(addressOfReverseName("3.2.1.in-addr.arpa"), undefined);
});

Deno.test("DMARC pct: outside the sample the next weaker policy applies (RFC 7489 6.6.4)", () => {
  const fail = { result: "fail", domain: "x.example" };
  assertEquals(dmarcDisposition({ ...fail, policy: "reject" }, () => 0.99), "reject");
  assertEquals(dmarcDisposition({ ...fail, policy: "reject", pct: 50 }, () => 0.1), "reject");
  assertEquals(dmarcDisposition({ ...fail, policy: "reject", pct: 50 }, () => 0.6), "junk");
  assertEquals(dmarcDisposition({ ...fail, policy: "quarantine", pct: 0 }, () => 0), "accept");
  assertEquals(dmarcDisposition({ ...fail, policy: "none" }, () => 0), "accept");
  assertEquals(
    dmarcDisposition({ result: "temperror", policy: "reject", domain: "x" }, () => 0),
    "accept",
  );
});

const UNSIGNED = (from: string) => rfc5322([`From: ${from}`, "To: a@postern.test", "Subject: s"]);

Deno.test("DMARC: sp= governs subdomains, pct is sampled, t=y lowers the policy", async () => {
  const zone: Zone = {
    "org.example": { TXT: ["v=spf1 -all"] },
    "sub.org.example": { TXT: ["v=spf1 -all"] },
    "_dmarc.org.example": { TXT: ["v=DMARC1; p=none; sp=reject"] },
    "pct.example": { TXT: ["v=spf1 -all"] },
    "_dmarc.pct.example": { TXT: ["v=DMARC1; p=reject; pct=20"] },
    "test.example": { TXT: ["v=spf1 -all"] },
    "_dmarc.test.example": { TXT: ["v=DMARC1; p=reject; t=y"] },
  };
  const org = await check(zone, { from: "a@org.example", message: UNSIGNED("a@org.example") });
  assertEquals([org.dmarc.result, org.dmarc.policy, org.disposition], ["fail", "none", "accept"]);
  const sub = await check(zone, {
    from: "a@sub.org.example",
    message: UNSIGNED("a@sub.org.example"),
  });
  assertEquals(sub.dmarc, {
    result: "fail",
    policy: "reject",
    domain: "sub.org.example",
    spfAligned: false,
    dkimAligned: false,
    // The organizational domain's record applied (sp=), as the aggregate report names it.
    policyDomain: "org.example",
  });
  assertEquals(sub.disposition, "reject");
  const sampled = (random: number) =>
    check(zone, { from: "a@pct.example", message: UNSIGNED("a@pct.example") }, {
      random: () => random,
    });
  assertEquals((await sampled(0.1)).disposition, "reject");
  const outside = await sampled(0.5);
  assertEquals([outside.dmarc.pct, outside.disposition], [20, "junk"]);
  const testing = await check(zone, {
    from: "a@test.example",
    message: UNSIGNED("a@test.example"),
  });
  assertEquals([testing.dmarc.policy, testing.disposition], ["quarantine", "junk"]);
});

Deno.test("DNS timeouts are temperror, recorded, and the message is accepted", async () => {
  const verdict = await check({}, {
    from: "a@slow.example",
    message: UNSIGNED("a@slow.example"),
  }, { timeouts: ["slow.example", "_dmarc.slow.example", "example"] });
  assertEquals(verdict.spf.result, "temperror");
  assertEquals(verdict.dmarc.result, "temperror");
  assertEquals(verdict.disposition, "accept");
  assert(/ spf=temperror/.test(verdict.headers) && / dmarc=temperror/.test(verdict.headers));
  assert(verdict.headers.startsWith(`Authentication-Results: ${MX};`), verdict.headers);
  assert(verdict.headers.endsWith("\r\n") && !/[^\r]\n/.test(verdict.headers), verdict.headers);
});

Deno.test("a null reverse-path is checked against the HELO identity (RFC 7208 section 2.4)", async () => {
  const verdict = await authenticateInbound({
    clientIp: "192.0.2.1",
    helo: "mail.sender.example",
    mailFrom: "",
    message: enc(UNSIGNED("mailer-daemon@sender.example")),
  }, {
    resolver: memoryResolver({ "mail.sender.example": { TXT: ["v=spf1 ip4:192.0.2.1 -all"] } }),
    hostname: MX,
  });
  assertEquals(verdict.spf, { result: "pass", domain: "mail.sender.example" });
});

Deno.test("ARC: a chain sealed by a forwarder whose key is published passes", async () => {
  const author = dkimKey("ed25519");
  const forwarder = dkimKey("rsa");
  const zone: Zone = {
    "sender.example": { TXT: ["v=spf1 ip4:192.0.2.1 -all"] },
    "a1._domainkey.sender.example": { TXT: [author.record] },
    "_dmarc.sender.example": { TXT: ["v=DMARC1; p=reject"] },
    "arc._domainkey.list.example": { TXT: [forwarder.record] },
  };
  const signed = await signMessage(UNSIGNED("a@sender.example"), {
    domain: "sender.example",
    selector: "a1",
    key: author,
  });
  const seal = await sealMessage(Buffer.from(signed), {
    signingDomain: "list.example",
    selector: "arc",
    privateKey: forwarder.privateKey,
    authResults: "list.example; dkim=pass header.d=sender.example",
    cv: "none",
  });
  const verdict = await check(zone, {
    ip: "198.51.100.9",
    from: "list-bounces@list.example",
    message: seal.toString() + signed,
  });
  assertEquals(verdict.arc, { result: "pass" });
  assertEquals(verdict.dkim.map((d) => [d.domain, d.result, d.algo]), [[
    "sender.example",
    "pass",
    "ed25519-sha256",
  ]]);
  assertEquals([verdict.dmarc.result, verdict.disposition], ["pass", "accept"]);
  // Break the chain: the seal no longer verifies.
  const broken = await check(zone, {
    ip: "198.51.100.9",
    from: "list-bounces@list.example",
    message: seal.toString().replace("cv=none", "cv=pass") + signed,
  });
  assertEquals(broken.arc.result, "fail");
});

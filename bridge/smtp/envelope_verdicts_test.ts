import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import { dkimKey, memoryResolver, rfc5322, signMessage } from "../../test/fixtures/auth_mail.ts";
import type { Zone } from "../../test/fixtures/fake_dns.ts";
import {
  envelopeKey,
  envelopeOnlyMessage,
  EnvelopeVerdicts,
  verdictDependsOnEnvelopeOnly,
} from "./envelope_verdicts.ts";
import { authenticateInbound, type AuthVerdict } from "./inbound_auth.ts";

const MX = "mx.postern.test";
const enc = (s: string) => new TextEncoder().encode(s);

/** Sender domains with every SPF and DMARC outcome that matters to the verdict. */
const ZONE: Zone = {
  "pass.example": { TXT: ["v=spf1 ip4:192.0.2.1 -all"] },
  "_dmarc.pass.example": { TXT: ["v=DMARC1; p=reject"] },
  "fail.example": { TXT: ["v=spf1 ip4:198.51.100.9 -all"] },
  "_dmarc.fail.example": { TXT: ["v=DMARC1; p=quarantine; pct=50"] },
  "soft.example": { TXT: ["v=spf1 ~all"] },
  "_dmarc.soft.example": { TXT: ["v=DMARC1; p=none"] },
  "nodmarc.example": { TXT: ["v=spf1 a -all"], A: ["192.0.2.1"] },
  "sub.org.example": { TXT: ["v=spf1 -all"] },
  "_dmarc.org.example": { TXT: ["v=DMARC1; p=reject; sp=quarantine"] },
  "broken.example": { TXT: ["v=spf1 include:"] },
  "_dmarc.broken.example": { TXT: ["v=DMARC1; p=bogus"] },
  "nothing.example": {},
};
const SENDERS = [
  "a@pass.example",
  "b.c@fail.example",
  "x+tag@soft.example",
  "bounce@nodmarc.example",
  "n@sub.org.example",
  "e@broken.example",
  "z@nothing.example",
  "q@unknown.example",
];
const IPS = ["192.0.2.1", "198.51.100.9", "2001:db8::1"];

const resolver = memoryResolver(ZONE);
const check = (ip: string, mailFrom: string, message: Uint8Array) =>
  authenticateInbound({ clientIp: ip, helo: "mail.sender.example", mailFrom, message }, {
    resolver,
    hostname: MX,
    random: () => 0.99, // pct sampling fixed, so both runs draw the same
  });

/** From fields (for `local@domain`) that the envelope-only verdict must take. */
const takenFroms = (address: string) => [
  `From: <${address}>`,
  `From: ${address}`,
  `From: Alice Example <${address}>`,
  `From: "Example, Alice (Sales)" <${address}>`,
  `From: "Alice"<${address}>`,
  `from:   <${address}>  `,
  `From:\r\n <${address}>`,
  `From: Alice\r\n\t<${address}>`,
];

function messageWith(from: string, extra: string[] = [], body?: string): Uint8Array {
  return enc(
    rfc5322([
      "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000",
      from,
      "To: rcpt@postern.test",
      "Subject: hello",
      "Date: Mon, 1 Jan 2024 00:00:00 +0000",
      "Message-ID: <1@x.example>",
      ...extra,
    ], body),
  );
}

Deno.test("a message without signatures has the verdict of its envelope alone", async () => {
  let compared = 0;
  for (const ip of IPS) {
    for (const sender of SENDERS) {
      const stand_in = await check(ip, sender, envelopeOnlyMessage(sender));
      const local = sender.split("@")[0];
      const domain = sender.split("@")[1];
      const froms = [
        ...takenFroms(sender),
        ...takenFroms(`other.${local}@${domain}`), // another mailbox of the same domain
      ];
      const extras = [[], ["Return-Path: <else@elsewhere.example>"], [
        "Authentication-Results: mx.postern.test; spf=pass",
        "Received-SPF: pass",
        "X-Mailer: test",
      ]];
      for (const from of froms) {
        for (const extra of extras) {
          for (const body of [undefined, "x".repeat(5000) + "\r\n", "\r\n\r\n.\r\n"]) {
            const message = messageWith(from, extra, body);
            assert(verdictDependsOnEnvelopeOnly(message, sender), `taken: ${from}`);
            assertEquals(await check(ip, sender, message), stand_in, `${ip} ${sender} ${from}`);
            compared++;
          }
        }
      }
    }
  }
  assert(compared > 1000, `compared ${compared}`);
});

Deno.test("everything the envelope alone does not decide is checked in full", async () => {
  const sender = "a@pass.example";
  const signed = await signMessage(rfc5322(["From: <a@pass.example>", "Subject: s"]), {
    domain: "pass.example",
    selector: "sel",
    key: dkimKey("ed25519"),
  });
  const refused: [string, Uint8Array, string?][] = [
    ["a DKIM signature", enc(signed)],
    ["an ARC set", messageWith("From: <a@pass.example>", ["ARC-Seal: i=1; a=rsa-sha256; cv=none"])],
    [
      "an ARC field in other case",
      messageWith("From: <a@pass.example>", ["arc-message-signature: i=1"]),
    ],
    ["two From fields", messageWith("From: <a@pass.example>", ["From: <a@pass.example>"])],
    ["two mailboxes", messageWith("From: <a@pass.example>, <b@pass.example>")],
    ["a group", messageWith("From: team: <a@pass.example>;")],
    ["another domain", messageWith("From: <a@other.example>")],
    ["a subdomain", messageWith("From: <a@mail.pass.example>")],
    ["the domain in other case", messageWith("From: <a@PASS.example>")],
    ["an encoded word", messageWith("From: =?utf-8?q?Al=C3=AFce?= <a@pass.example>")],
    ["a comment", messageWith("From: a@pass.example (Alice)")],
    ["a quoted local part", messageWith('From: <"a b"@pass.example>')],
    ["a domain literal", messageWith("From: <a@[192.0.2.1]>")],
    ["8-bit text", messageWith("From: Zoë <a@pass.example>")],
    ["no From", messageWith("Sender: <a@pass.example>")],
    ["bare LF", enc("From: <a@pass.example>\nSubject: x\n\nbody\n")],
    ["a bare CR", enc("From: <a@pass.example>\rSubject: x\r\n\r\nbody\r\n")],
    ["a NUL", enc("From: <a@pass.example>\r\nSubject: x\0\r\n\r\nbody\r\n")],
    ["no end of the header", enc("From: <a@pass.example>\r\nSubject: x\r\n")],
    ["a line that is not a field", enc("From: <a@pass.example>\r\nnot a field\r\n\r\nb\r\n")],
    ["a fold before any field", enc(" x\r\nFrom: <a@pass.example>\r\n\r\nb\r\n")],
    ["the null reverse-path", messageWith("From: <a@pass.example>"), ""],
  ];
  for (const [why, message, mailFrom] of refused) {
    assert(!verdictDependsOnEnvelopeOnly(message, mailFrom ?? sender), `refused: ${why}`);
  }
  // The signed message shows why: its verdict is not the envelope's.
  assert(
    JSON.stringify(await check("192.0.2.1", sender, enc(signed))) !==
      JSON.stringify(await check("192.0.2.1", sender, envelopeOnlyMessage(sender))),
  );
});

const verdict = (over: Partial<AuthVerdict> = {}): AuthVerdict => ({
  spf: { result: "pass", domain: "pass.example" },
  dkim: [{ result: "none", domain: "", selector: "", algo: "", aligned: false }],
  dmarc: { result: "pass", policy: "reject", domain: "pass.example" },
  arc: { result: "none" },
  disposition: "accept",
  headers: "Authentication-Results: mx; spf=pass\r\n",
  ...over,
});

Deno.test("EnvelopeVerdicts shares one check per envelope for its lifetime", async () => {
  let now = 1_000;
  const cache = new EnvelopeVerdicts(5_000, () => now);
  let checks = 0;
  const run = () => {
    checks++;
    return new Promise<AuthVerdict>((r) => setTimeout(() => r(verdict()), 5));
  };
  const key = envelopeKey("192.0.2.1", "helo", "a@pass.example");
  const [a, b] = await Promise.all([cache.get(key, run), cache.get(key, run)]);
  assertEquals(checks, 1, "a check in flight is shared");
  assert(a === b);
  now += 4_999;
  await cache.get(key, run);
  assertEquals(checks, 1, "reused within its lifetime");
  await cache.get(envelopeKey("192.0.2.1", "helo", "b@pass.example"), run);
  assertEquals(checks, 2, "another envelope is another check");
  now += 1;
  await cache.get(key, run);
  assertEquals(checks, 3, "asked again once expired");
});

Deno.test("EnvelopeVerdicts never reuses a failed check or a temporary error", async () => {
  const cache = new EnvelopeVerdicts(60_000);
  const key = envelopeKey("192.0.2.1", "helo", "a@pass.example");
  for (
    const failed of [
      verdict({ spf: { result: "temperror", domain: "pass.example" } }),
      verdict({ dmarc: { result: "temperror", policy: "none", domain: "pass.example" } }),
      verdict({ error: "mailauth threw" }),
    ]
  ) {
    let checks = 0;
    const run = () => (checks++, Promise.resolve(failed));
    await cache.get(key, run);
    await new Promise((r) => setTimeout(r, 0));
    await cache.get(key, run);
    assertEquals(checks, 2, JSON.stringify(failed).slice(0, 80));
  }
  let calls = 0;
  const reject = () => (calls++, Promise.reject(new Error("worker stopped")));
  await cache.get(key, reject).catch(() => {});
  await new Promise((r) => setTimeout(r, 0));
  await cache.get(key, reject).catch(() => {});
  assertEquals(calls, 2, "a rejected check is not kept");
  const off = new EnvelopeVerdicts(0);
  let offCalls = 0;
  const ok = () => (offCalls++, Promise.resolve(verdict()));
  await off.get(key, ok);
  await off.get(key, ok);
  assertEquals(offCalls, 2, "a lifetime of 0 keeps nothing");
  assert(!off.enabled);
});

import { assertEquals } from "../../test/fixtures/assert.ts";
import type { DnsPort } from "../../src/ports.ts";
import { verifyDkim } from "./dkim_verify.ts";

const data = new URL("../../test/data/dkim/", import.meta.url);
const zone = JSON.parse(await Deno.readTextFile(new URL("rfc8463-zone.json", data))) as Record<
  string,
  { TXT: (string | string[])[] }
>;
const eml = (await Deno.readTextFile(new URL("rfc8463-A3.eml", data))).replace(/\r?\n/g, "\r\n");
const bytes = (text: string) => new TextEncoder().encode(text);

function zoneDns(fail = false): DnsPort {
  const none = () => Promise.resolve([]);
  return {
    txt: (name) => {
      if (fail) return Promise.reject(new Error("SERVFAIL"));
      const records = zone[`${name}.`]?.TXT ?? [];
      return Promise.resolve(records.map((r) => Array.isArray(r) ? r : [r]));
    },
    addresses: none,
    mx: none,
    srv: none,
  };
}

const summary = (results: Awaited<ReturnType<typeof verifyDkim>>) =>
  results.map((r) => [r.algo, r.selector, r.domain, r.result]);

Deno.test("issue17#1: RFC 8463 A.3, ed25519 and rsa signatures verify with Web Crypto", async () => {
  assertEquals(summary(await verifyDkim(bytes(eml), zoneDns())), [
    ["ed25519-sha256", "brisbane", "football.example.com", "pass"],
    ["rsa-sha256", "test", "football.example.com", "pass"],
  ]);
  // A trace field added on top (as the Worker does) is not signed and changes nothing.
  assertEquals(
    (await verifyDkim(bytes(`Received: by edge.test\r\n${eml}`), zoneDns())).map((r) => r.result),
    ["pass", "pass"],
  );
});

Deno.test("issue17#1: DKIM fails on a changed header or body, errs on DNS and bad keys", async () => {
  const subject = eml.replace("Subject: Is dinner ready?", "Subject: Is dinner ready?!");
  assertEquals((await verifyDkim(bytes(subject), zoneDns())).map((r) => r.result), [
    "fail",
    "fail",
  ]);
  const body = await verifyDkim(bytes(eml.replace("We lost", "We won")), zoneDns());
  assertEquals(body.map((r) => [r.result, r.reason]), [
    ["fail", "body hash mismatch"],
    ["fail", "body hash mismatch"],
  ]);
  assertEquals((await verifyDkim(bytes(eml), zoneDns(true))).map((r) => r.result), [
    "temperror",
    "temperror",
  ]);
  const unknown = eml.replaceAll("s=brisbane", "s=gone").replaceAll("s=test", "s=gone");
  assertEquals((await verifyDkim(bytes(unknown), zoneDns())).map((r) => r.reason), [
    "no key record",
    "no key record",
  ]);
  const sha1 = eml.replace("a=rsa-sha256", "a=rsa-sha1");
  assertEquals((await verifyDkim(bytes(sha1), zoneDns()))[1].result, "neutral");
  assertEquals(await verifyDkim(bytes("From: a@b.example\r\n\r\nhi\r\n"), zoneDns()), []);
});

Deno.test("issue17#1: signatures made by mailauth verify, simple and relaxed, with l=", async () => {
  const { dkimSign } = await import("mailauth");
  const { generateKeyPairSync } = await import("node:crypto");
  const { Buffer } = await import("node:buffer");
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const spki = publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const dns: DnsPort = {
    txt: (name) =>
      Promise.resolve(
        name === "s1._domainkey.sender.example" ? [[`v=DKIM1; k=rsa; p=${spki}`]] : [],
      ),
    addresses: () => Promise.resolve([]),
    mx: () => Promise.resolve([]),
    srv: () => Promise.resolve([]),
  };
  const message = "From: Ann <a@sender.example>\r\nTo: b@edge.test\r\nSubject:  spaced \t out\r\n" +
    "Date: Mon, 07 Dec 2026 08:00:00 +0000\r\n\r\nline one  \r\n\r\nline \u00e9 three\r\n\r\n\r\n";
  for (const canonicalization of ["simple/simple", "relaxed/relaxed", "simple/relaxed"]) {
    const key = { signingDomain: "sender.example", selector: "s1", privateKey: pem };
    const signed = await dkimSign(Buffer.from(message), {
      ...key,
      canonicalization,
      signatureData: [{ ...key, canonicalization, algorithm: "rsa-sha256" }],
    });
    if (!signed.signatures) throw new Error(JSON.stringify(signed.errors));
    const raw = bytes(signed.signatures + message);
    assertEquals((await verifyDkim(raw, dns)).map((r) => r.result), ["pass"], canonicalization);
    const changed = bytes(signed.signatures + message.replace("three", "3"));
    assertEquals((await verifyDkim(changed, dns)).map((r) => r.result), ["fail"], canonicalization);
  }
  // l= (section 3.5): only the first octets of the body are signed; text after them may change.
  const key = { signingDomain: "sender.example", selector: "s1", privateKey: pem };
  const limited = await dkimSign(Buffer.from(message), {
    ...key,
    signatureData: [{ ...key, algorithm: "rsa-sha256", maxBodyLength: 10 }],
  });
  assertEquals(/\bl=10\b/.test(limited.signatures), true, limited.signatures);
  const appended = bytes(limited.signatures + message.replace("three", "3"));
  assertEquals((await verifyDkim(appended, dns)).map((r) => r.result), ["pass"]);
  const early = bytes(limited.signatures + message.replace("line one", "line 1"));
  assertEquals((await verifyDkim(early, dns)).map((r) => r.result), ["fail"]);
});

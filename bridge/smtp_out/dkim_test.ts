import assert from "node:assert/strict";
import { DkimSigner, fromDomain } from "./dkim.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("DKIM: the signing domain is the From header's domain", () => {
  assert.equal(
    fromDomain(enc("Subject: x\r\nFrom: Alice <alice@Example.ORG>\r\n\r\nbody")),
    "example.org",
  );
  assert.equal(fromDomain(enc('from:\r\n "A, B" <a@folded.test>\r\n\r\n')), "folded.test");
  assert.equal(fromDomain(enc("Subject: none\r\n\r\nFrom: body@not.header\r\n")), undefined);
  assert.equal(fromDomain(enc("From: undisclosed-recipients:;\r\n\r\n")), undefined);
});

Deno.test("DKIM: messages without keys for their domain go out unchanged; keys are cached", async () => {
  let calls = 0;
  const signer = new DkimSigner((domain) => {
    calls++;
    return Promise.resolve(domain === "known.test" ? { domain, keys: [] } : undefined);
  });
  const raw = enc("From: a@other.test\r\n\r\nx\r\n");
  assert.deepEqual(await signer.sign(raw), { bytes: raw, selectors: [] });
  await signer.sign(raw);
  assert.equal(calls, 1, "a domain without keys is remembered too");
  await assert.rejects(
    () => new DkimSigner(() => Promise.reject(new Error("gateway down"))).sign(raw),
    /gateway down/,
  );
});

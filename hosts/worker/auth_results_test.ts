import { assertEquals } from "../../test/fixtures/assert.ts";
import { cloudflareVerdict, parseAuthResults } from "./auth_results.ts";

const fields = (...pairs: [string, string][]) => pairs.map(([name, value]) => ({ name, value }));

Deno.test("issue17#1: RFC 8601 results parse with comments, quotes and an ARC instance tag", () => {
  const parsed = parseAuthResults(
    'i=2; mx.cloudflare.net; dkim=pass (2048-bit key) header.d=a.example header.s="s 1";' +
      " spf=softfail (sender (nested) comment) smtp.mailfrom=x@a.example; dmarc=none",
    true,
  );
  assertEquals(parsed?.authservId, "mx.cloudflare.net");
  assertEquals(parsed?.entries.map((e) => [e.method, e.result]), [
    ["dkim", "pass"],
    ["spf", "softfail"],
    ["dmarc", "none"],
  ]);
  assertEquals(parsed?.entries[0].props["header.s"], "s 1");
  assertEquals(parsed?.entries[1].props["smtp.mailfrom"], "x@a.example");
  // RFC 8601 section 2.2: "none" alone says no method ran.
  assertEquals(parseAuthResults("mx.example; none")?.entries, []);
});

Deno.test("issue17#1: only Cloudflare's topmost results are trusted", () => {
  const forged = cloudflareVerdict(fields(
    ["Authentication-Results", "evil.example; spf=pass; dkim=pass header.d=bank.example"],
    ["Authentication-Results", "mx.cloudflare.net; spf=fail smtp.mailfrom=a@bank.example"],
  ));
  // The topmost field is not Cloudflare's, so nothing is believed (not even the lower one,
  // which a sender could have written as well).
  assertEquals([forged.spf.result, forged.dkim, forged.authservId], ["none", [], ""]);
  const real = cloudflareVerdict(fields(
    [
      "ARC-Authentication-Results",
      "i=1; mx.cloudflare.net; dkim=pass header.d=mail.a.example header.s=s1; " +
      "spf=pass smtp.mailfrom=bounce@a.example; dmarc=pass header.from=a.example",
    ],
    ["Authentication-Results", "evil.example; dmarc=fail"],
  ));
  assertEquals(real.spf, { result: "pass", domain: "a.example" });
  assertEquals(real.dkim[0].aligned, true);
  assertEquals(real.dmarc, { result: "pass", policy: "none", domain: "a.example" });
  assertEquals(real.disposition, "accept");
});

Deno.test("issue17#1: a DMARC failure under quarantine goes to Junk, under reject is refused", () => {
  const verdict = (policy: string) =>
    cloudflareVerdict(fields([
      "Authentication-Results",
      `mx.cloudflare.net; dmarc=fail header.from=a.example policy.dmarc=${policy}`,
    ])).disposition;
  assertEquals([verdict("none"), verdict("quarantine"), verdict("reject")], [
    "accept",
    "junk",
    "reject",
  ]);
});

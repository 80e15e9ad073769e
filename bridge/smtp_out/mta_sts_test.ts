import assert from "node:assert/strict";
import type { Resolver } from "../dns/resolver.ts";
import { RefusedTarget } from "../../schemas/public_address.ts";
import { createGuardedFetch } from "../net/guarded_fetch.ts";
import {
  httpsPolicyFetcher,
  MtaStsResolver,
  mxMatchesPolicy,
  parsePolicy,
  parseStsRecord,
} from "./mta_sts.ts";

Deno.test("MTA-STS: the RFC 8461 section 3.2 example policy parses", () => {
  const text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n" +
    "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";
  assert.deepEqual(parsePolicy(text, "20160831085700Z"), {
    id: "20160831085700Z",
    mode: "enforce",
    mx: ["mail.example.com", "*.example.net", "backupmx.example.com"],
    maxAgeSeconds: 604800,
  });
  assert.ok("error" in parsePolicy("version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n"));
  assert.ok("error" in parsePolicy("version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n"));
  assert.ok("error" in parsePolicy("version: STSv1\nmode: enforce\nmax_age: 1\n"));
  assert.ok("error" in parsePolicy("version: STSv1\nmode: enforce\nmx: a\n"));
  const capped = parsePolicy("version: STSv1\nmode: none\nmax_age: 9999999999\n");
  assert.ok(!("error" in capped) && capped.maxAgeSeconds === 31_557_600);
});

Deno.test("MTA-STS: MX matching (section 4.1) and TXT discovery (section 3.1)", () => {
  const policy = { mx: ["mail.example.com", "*.example.net"] };
  assert.ok(mxMatchesPolicy("mail.example.com", policy));
  assert.ok(mxMatchesPolicy("MAIL.example.com.", policy));
  assert.ok(mxMatchesPolicy("mx1.example.net", policy));
  assert.ok(!mxMatchesPolicy("example.net", policy), "the wildcard needs one label");
  assert.ok(!mxMatchesPolicy("a.b.example.net", policy), "…and only one");
  assert.ok(!mxMatchesPolicy("evil-mail.example.com", policy));
  assert.equal(parseStsRecord([["v=STSv1; id=20160831085700Z;"]]), "20160831085700Z");
  assert.equal(parseStsRecord([["v=STSv1; ", "id=abc"]]), "abc");
  assert.equal(parseStsRecord([["v=spf1 -all"]]), undefined);
  assert.equal(parseStsRecord([["v=STSv1; id=a"], ["v=STSv1; id=b"]]), undefined, "two records");
  assert.equal(parseStsRecord([["v=STSv1; id=bad-id!"]]), undefined);
});

Deno.test("MTA-STS: policies are fetched once per id and kept while the TXT record is gone", async () => {
  let txt: string[][] | undefined = [["v=STSv1; id=one"]];
  let now = 1_000_000;
  const fetched: string[] = [];
  const resolver = {
    txt: () =>
      txt
        ? Promise.resolve(txt)
        : Promise.reject(Object.assign(new Error("nx"), { code: "ENOTFOUND" })),
  } as unknown as Resolver;
  let policyText = "version: STSv1\nmode: enforce\nmx: mx.example.org\nmax_age: 100\n";
  const sts = new MtaStsResolver(resolver, (domain) => {
    fetched.push(domain);
    return Promise.resolve(policyText);
  }, () => now);
  assert.equal((await sts.policyFor("example.org"))?.mode, "enforce");
  assert.equal((await sts.policyFor("example.org"))?.id, "one");
  assert.deepEqual(fetched, ["example.org"], "cached while the id is unchanged");
  txt = undefined;
  assert.equal((await sts.policyFor("example.org"))?.mode, "enforce", "cached policy applies");
  now += 101_000;
  assert.equal(await sts.policyFor("example.org"), undefined, "…until max_age passes");
  txt = [["v=STSv1; id=two"]];
  policyText = "version: STSv1\nmode: testing\nmx: mx.example.org\nmax_age: 100\n";
  assert.equal((await sts.policyFor("example.org"))?.mode, "testing");
  assert.equal(fetched.length, 2);
  const failing = new MtaStsResolver(resolver, () => Promise.reject(new Error("no https")));
  assert.equal(await failing.policyFor("example.org"), undefined, "unfetchable: no policy");
});

Deno.test("issue15#3: the policy host is SSRF-checked on what it resolves to", async () => {
  for (const answer of ["127.0.0.1", "::ffff:7f00:1", "169.254.169.254"]) {
    const asked: string[] = [];
    const fetcher = httpsPolicyFetcher(createGuardedFetch({
      resolve: (name) => {
        asked.push(name);
        return Promise.resolve([answer]);
      },
    }));
    await assert.rejects(() => fetcher("victim.example"), RefusedTarget, answer);
    assert.deepEqual(asked, ["mta-sts.victim.example"]);
  }
});

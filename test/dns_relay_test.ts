/**
 * hosts/process/dns_relay.ts: the worker keeps a main-thread answer exactly as long as the main thread's
 * cache said, errors keep their DNS code, uncached failures are asked again, and concurrent
 * identical questions share one trip.
 */
import {
  answerDnsQuestion,
  type DnsAnswer,
  type DnsQuestion,
  relayedResolver,
} from "../hosts/process/dns_relay.ts";
import { cachingResolver, type Resolver } from "../bridge/dns/resolver.ts";
import { assertEquals, assertRejects } from "./fixtures/assert.ts";

function fakeResolver(answers: Record<string, string[][] | string>) {
  const asked: string[] = [];
  const fail = (code: string) => Promise.reject(Object.assign(new Error(code), { code }));
  const resolver: Resolver = {
    txt: (name) => {
      asked.push(name);
      const a = answers[name];
      return typeof a === "string" ? fail(a) : a ? Promise.resolve(a) : fail("ENOTFOUND");
    },
    mx: () => fail("ENODATA"),
    a: () => fail("ENODATA"),
    aaaa: () => fail("ENODATA"),
    srv: () => fail("ENODATA"),
    ptr: () => fail("ENODATA"),
  };
  return { resolver, asked };
}

Deno.test("the worker reuses an answer for as long as the main thread's cache keeps it", async () => {
  let now = 1_000;
  const { resolver, asked } = fakeResolver({ "edge.test": [["v=spf1 -all"]] });
  const main = cachingResolver(resolver, { positiveMs: 30_000, negativeMs: 5_000, now: () => now });
  const trips: DnsQuestion[] = [];
  const worker = relayedResolver((q) => {
    trips.push(q);
    return answerDnsQuestion(main, q);
  }, { now: () => now });

  assertEquals(await worker.txt("edge.test"), [["v=spf1 -all"]]);
  now += 20_000;
  assertEquals(await worker.txt("EDGE.test"), [["v=spf1 -all"]]);
  assertEquals(trips.length, 1); // answered in the worker
  now += 10_001; // past the main cache's 30 s
  assertEquals(await worker.txt("edge.test"), [["v=spf1 -all"]]);
  assertEquals(trips.length, 2);
  assertEquals(asked.length, 2); // and the main thread asked DNS again too
});

Deno.test("a missing name keeps its code and is cached as long as the main thread caches it", async () => {
  let now = 0;
  const { resolver } = fakeResolver({});
  const main = cachingResolver(resolver, { positiveMs: 30_000, negativeMs: 5_000, now: () => now });
  let trips = 0;
  const worker = relayedResolver((q) => {
    trips++;
    return answerDnsQuestion(main, q);
  }, { now: () => now });
  const e1 = await assertRejects(() => worker.txt("_dmarc.none.test")) as { code?: string };
  assertEquals(e1.code, "ENOTFOUND");
  now += 4_000;
  const e2 = await assertRejects(() => worker.txt("_dmarc.none.test")) as { code?: string };
  assertEquals(e2.code, "ENOTFOUND");
  assertEquals(trips, 1);
  now += 1_001;
  await assertRejects(() => worker.txt("_dmarc.none.test"));
  assertEquals(trips, 2);
});

Deno.test("failures the main thread does not cache (SERVFAIL, timeouts) are asked again", async () => {
  const { resolver, asked } = fakeResolver({ "flaky.test": "ESERVFAIL" });
  const main = cachingResolver(resolver, { positiveMs: 30_000, negativeMs: 30_000 });
  const worker = relayedResolver((q) => answerDnsQuestion(main, q));
  for (let i = 0; i < 3; i++) {
    const e = await assertRejects(() => worker.txt("flaky.test")) as { code?: string };
    assertEquals(e.code, "ESERVFAIL");
  }
  assertEquals(asked.length, 3);
});

Deno.test("a resolver without a cache gives answers the worker does not keep", async () => {
  const { resolver, asked } = fakeResolver({ "edge.test": [["x"]] });
  const worker = relayedResolver((q) => answerDnsQuestion(resolver, q));
  await worker.txt("edge.test");
  await worker.txt("edge.test");
  assertEquals(asked.length, 2);
});

Deno.test("concurrent identical questions share one trip", async () => {
  let release!: (a: DnsAnswer) => void;
  let trips = 0;
  const worker = relayedResolver(() => {
    trips++;
    return new Promise<DnsAnswer>((r) => (release = r));
  });
  const both = Promise.all([worker.txt("edge.test"), worker.txt("edge.test")]);
  release({ ok: true, value: [["v=spf1 -all"]], cacheMs: 0 });
  assertEquals(await both, [[["v=spf1 -all"]], [["v=spf1 -all"]]]);
  assertEquals(trips, 1);
});

Deno.test("an unknown method is an error answer, not a crash", async () => {
  const { resolver } = fakeResolver({});
  const answer = await answerDnsQuestion(resolver, {
    method: "nope" as keyof Resolver,
    args: ["x"],
  });
  assertEquals(answer.ok, false);
});

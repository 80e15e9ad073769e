import assert from "node:assert/strict";
import { startFakeDns } from "../../test/fixtures/fake_dns.ts";
import { createResolver } from "./resolver.ts";

Deno.test("the resolver reads MX, A, TXT and SRV from a test DNS server; missing names throw ENOTFOUND", async () => {
  const dns = await startFakeDns({
    "example.test": {
      MX: ["20 b.example.test", "10 a.example.test"],
      TXT: ["v=spf1 ip4:192.0.2.0/24 -all", ["part1", "part2"]],
    },
    "a.example.test": { A: ["192.0.2.1"] },
    "_sharp._tcp.example.test": { SRV: ["10 5 5000 sharp.example.test"] },
  });
  try {
    const r = createResolver({ servers: [dns.server], timeoutMs: 1000, tries: 1 });
    const mx = await r.mx("example.test");
    assert.deepEqual(mx.sort((x, y) => x.priority - y.priority).map((m) => m.exchange), [
      "a.example.test",
      "b.example.test",
    ]);
    assert.deepEqual(await r.a("a.example.test"), ["192.0.2.1"]);
    assert.deepEqual((await r.txt("example.test")).map((t) => t.join("")).sort(), [
      "part1part2",
      "v=spf1 ip4:192.0.2.0/24 -all",
    ]);
    assert.deepEqual(await r.srv("_sharp._tcp.example.test"), [{
      name: "sharp.example.test",
      port: 5000,
      priority: 10,
      weight: 5,
    }]);
    await assert.rejects(
      () => r.a("missing.example.test"),
      (e: { code?: string }) => e.code === "ENOTFOUND",
    );
  } finally {
    await dns.close();
  }
});

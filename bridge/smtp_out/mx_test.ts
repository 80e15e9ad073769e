import assert from "node:assert/strict";
import { startFakeDns } from "../../test/fixtures/fake_dns.ts";
import { createResolver, type Resolver } from "../dns/resolver.ts";
import { hostAddresses, resolveMx } from "./mx.ts";

Deno.test("MX: sorted by preference, duplicates dropped, ties shuffled (RFC 5321 5.1)", async () => {
  const dns = await startFakeDns({
    "example.test": {
      MX: ["20 c.example.test", "10 b.example.test", "10 a.example.test", "20 c.example.test."],
    },
  });
  try {
    const r = createResolver({ servers: [dns.server], timeoutMs: 1000, tries: 1 });
    const low = await resolveMx(r, "example.test", () => 0);
    assert.equal(low.kind, "hosts");
    if (low.kind !== "hosts") return;
    assert.deepEqual(low.hosts.map((h) => [h.preference, h.name]).slice(2), [[
      20,
      "c.example.test",
    ]]);
    assert.deepEqual(
      new Set(low.hosts.slice(0, 2).map((h) => h.name)),
      new Set(["a.example.test", "b.example.test"]),
    );
    assert.equal(low.hosts.length, 3);
    // Equal preferences are ordered by the random draw: one per record, in answer order.
    const firstWith = async (draws: number[]) => {
      const route = await resolveMx(r, "example.test", () => draws.shift() ?? 0);
      return route.kind === "hosts" ? route.hosts[0].name : "";
    };
    assert.equal(await firstWith([0, 0.9, 0.1, 0]), "a.example.test");
    assert.equal(await firstWith([0, 0.1, 0.9, 0]), "b.example.test");
  } finally {
    await dns.close();
  }
});

Deno.test("MX: null MX is a permanent 5.1.10; no MX means the implicit MX", async () => {
  const dns = await startFakeDns({
    "null.test": { MX: ["0 ."] },
    "plain.test": { A: ["192.0.2.7"], AAAA: ["2001:db8::7"] },
  });
  try {
    const r = createResolver({ servers: [dns.server], timeoutMs: 1000, tries: 1 });
    assert.deepEqual(await resolveMx(r, "null.test"), {
      kind: "fail",
      permanent: true,
      enhanced: "5.1.10",
      message: "null.test does not accept mail (null MX, RFC 7505)",
    });
    assert.deepEqual(await resolveMx(r, "plain.test"), {
      kind: "hosts",
      hosts: [{ name: "plain.test", preference: 0, implicit: true }],
    });
    assert.deepEqual(await hostAddresses(r, "plain.test"), {
      addresses: ["192.0.2.7", "2001:db8::7"],
      temporaryError: undefined,
    });
    assert.deepEqual(await hostAddresses(r, "nothing.test"), {
      addresses: [],
      temporaryError: undefined,
    });
    assert.deepEqual(await hostAddresses(r, "127.0.0.1"), { addresses: ["127.0.0.1"] });
  } finally {
    await dns.close();
  }
});

Deno.test("MX: DNS failures other than 'no such data' are temporary", async () => {
  const failing = {
    mx: () => Promise.reject(Object.assign(new Error("timeout"), { code: "ETIMEOUT" })),
  } as unknown as Resolver;
  const route = await resolveMx(failing, "slow.test");
  assert.equal(route.kind, "fail");
  if (route.kind === "fail") {
    assert.equal(route.permanent, false);
    assert.equal(route.enhanced, "4.4.3");
  }
});

/**
 * DNS over HTTPS (RFC 8484) for hosts without sockets (issue 17 item 2): Postern's own DNS
 * message codec (src/dns/wire.ts) against an independent one (dns-packet) serving a zone through
 * a DoH endpoint that relays to the UDP test DNS server; CNAME chains; NXDOMAIN vs NODATA codes
 * as node:dns gives them; caching and shared in-flight lookups; hostile answers (garbage,
 * truncation, compression loops, oversized names, HTTP errors, timeouts) end in a clear error.
 */
import * as packet from "dns-packet";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertRejects } from "./fixtures/assert.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";
import { dohServer, udpRelay } from "./fixtures/doh_relay.ts";
import { createDohResolver, DnsLookupError, reverseName } from "../src/dns/doh.ts";
import { decodeResponse, DnsWireError, encodeQuery } from "../src/dns/wire.ts";

Deno.test("issue17#2: the DoH resolver answers MX, A, AAAA, TXT, SRV and PTR from a real zone", async () => {
  const dns = await startFakeDns({
    "example.test": {
      MX: ["10 mx1.example.test", "20 mx2.example.test"],
      A: ["192.0.2.10"],
      AAAA: ["2001:db8::1", "2001:db8:0:1:0:0:0:5"],
      TXT: ["v=spf1 ip4:192.0.2.0/24 -all", ["part one ", "part two"]],
    },
    "_sharp._tcp.example.test": { SRV: ["10 5 5000 sharp.example.test"] },
    "10.2.0.192.in-addr.arpa": { PTR: ["mail.example.test"] },
    "caf\u00e9.test": { A: ["192.0.2.99"] },
  });
  const doh = dohServer(udpRelay(dns.port));
  try {
    const r = createDohResolver({ url: doh.url });
    assertEquals(await r.mx("example.test"), [
      { exchange: "mx1.example.test", priority: 10 },
      { exchange: "mx2.example.test", priority: 20 },
    ]);
    assertEquals(await r.a("EXAMPLE.test"), ["192.0.2.10"]);
    assertEquals(await r.aaaa("example.test"), ["2001:db8::1", "2001:db8:0:1::5"]);
    assertEquals(await r.txt("example.test"), [
      ["v=spf1 ip4:192.0.2.0/24 -all"],
      ["part one ", "part two"],
    ]);
    assertEquals(await r.srv("_sharp._tcp.example.test"), [
      { name: "sharp.example.test", port: 5000, priority: 10, weight: 5 },
    ]);
    assertEquals(await r.ptr("192.0.2.10"), ["mail.example.test"]);
    assertEquals(await r.port.addresses("example.test"), [
      "192.0.2.10",
      "2001:db8::1",
      "2001:db8:0:1::5",
    ]);

    // Missing name: ENOTFOUND; name without that type: ENODATA (node:dns's codes).
    const nx = await assertRejects(() => r.a("nowhere.test"), DnsLookupError);
    assertEquals((nx as DnsLookupError).code, "ENOTFOUND");
    const nodata = await assertRejects(() => r.srv("example.test"), DnsLookupError);
    assertEquals((nodata as DnsLookupError).code, "ENODATA");
    assertEquals(await r.port.txt("nowhere.test"), [], "the DNS port answers none, not an error");
    assertEquals(await r.port.addresses("nowhere.test"), []);
  } finally {
    await doh.close();
    await dns.close();
  }
});

Deno.test("issue17#2: answers are cached for their TTL and concurrent lookups share one request", async () => {
  const dns = await startFakeDns({ "cache.test": { TXT: ["v=DMARC1; p=reject"] } });
  const doh = dohServer(udpRelay(dns.port));
  try {
    const r = createDohResolver({ url: doh.url });
    const all = await Promise.all(Array.from({ length: 10 }, () => r.txt("cache.test")));
    assertEquals(all.length, 10);
    assertEquals(doh.requests(), 1, "ten concurrent lookups, one request");
    await r.txt("CACHE.test");
    assertEquals(doh.requests(), 1, "served from the cache (names compare case-insensitively)");
    await assertRejects(() => r.a("missing.test"));
    await assertRejects(() => r.a("missing.test"));
    assertEquals(doh.requests(), 2, "a missing name is remembered too");
  } finally {
    await doh.close();
    await dns.close();
  }
});

Deno.test("issue17#2: a CNAME chain in the answer section is followed", async () => {
  const doh = dohServer((query) => {
    const q = packet.decode(Buffer.from(query));
    return new Uint8Array(packet.encode({
      type: "response",
      id: q.id,
      flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE,
      questions: q.questions,
      answers: [
        { type: "CNAME", name: "www.alias.test", ttl: 30, class: "IN", data: "edge.alias.test" },
        { type: "CNAME", name: "edge.alias.test", ttl: 30, class: "IN", data: "host.cdn.test" },
        { type: "A", name: "host.cdn.test", ttl: 30, class: "IN", data: "192.0.2.77" },
        { type: "A", name: "unrelated.test", ttl: 30, class: "IN", data: "192.0.2.1" },
      ],
    }));
  });
  try {
    const r = createDohResolver({ url: doh.url });
    assertEquals(await r.a("www.alias.test"), ["192.0.2.77"]);
  } finally {
    await doh.close();
  }
});

Deno.test("issue17#2: hostile DoH answers end in a clear error, never a hang or a crash", async () => {
  const header = (ancount: number) => {
    const h = new Uint8Array(12);
    const v = new DataView(h.buffer);
    v.setUint16(2, 0x8180);
    v.setUint16(6, ancount);
    return h;
  };
  const loop = new Uint8Array([...header(1), 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
  const forward = new Uint8Array([...header(1), 0xc0, 14, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
  const longName = new Uint8Array([
    ...header(1),
    ...Array.from({ length: 5 }, () => [63, ...new Uint8Array(63).fill(97)]).flat(),
    0,
    0,
    1,
    0,
    1,
    0,
    0,
    0,
    60,
    0,
    4,
    1,
    2,
    3,
    4,
  ]);
  const cases: [string, Uint8Array | Response, string][] = [
    ["garbage", new Uint8Array([1, 2, 3]), "EBADRESP"],
    ["a query, not a response", encodeQuery("x.test", "A"), "EBADRESP"],
    ["a pointer to itself", loop, "EBADRESP"],
    ["a forward pointer", forward, "EBADRESP"],
    ["a name over 255 octets", longName, "EBADRESP"],
    ["truncated record", loop.subarray(0, loop.length - 2), "EBADRESP"],
    ["HTTP 500", new Response("oops", { status: 500 }), "ESERVFAIL"],
  ];
  for (const [what, reply, code] of cases) {
    const doh = dohServer(() => reply instanceof Response ? reply.clone() : reply);
    try {
      const r = createDohResolver({ url: doh.url, tries: 1 });
      const e = await assertRejects(() => r.a("x.test"), DnsLookupError);
      assertEquals((e as DnsLookupError).code, code, what);
    } finally {
      await doh.close();
    }
  }
  // A server that never answers: ETIMEOUT after the timeout, once per try.
  const held: (() => void)[] = [];
  const stuck = dohServer(() =>
    new Promise<Response>((resolve) =>
      held.push(() => resolve(new Response(null, { status: 503 })))
    )
  );
  try {
    const r = createDohResolver({ url: stuck.url, tries: 2, timeoutMs: 200 });
    const e = await assertRejects(() => r.a("x.test"), DnsLookupError);
    assertEquals((e as DnsLookupError).code, "ETIMEOUT");
    assertEquals(stuck.requests(), 2);
  } finally {
    for (const release of held) release(); // so the server can shut down
    await stuck.close();
  }
});

Deno.test("issue17#2: the codec refuses names it cannot write and reverses addresses", () => {
  let threw = false;
  try {
    encodeQuery(`${"a".repeat(64)}.test`, "A");
  } catch (e) {
    threw = e instanceof DnsWireError;
  }
  assert(threw, "a 64-octet label is refused");
  assertEquals(reverseName("192.0.2.10"), "10.2.0.192.in-addr.arpa");
  assertEquals(
    reverseName("2001:db8::1"),
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
  );
  // dns-packet reads Postern's query as the same question.
  const q = packet.decode(Buffer.from(encodeQuery("Mail.Example.test.", "MX")));
  assertEquals(q.questions?.[0], { name: "Mail.Example.test", type: "MX", class: "IN" });
  assertEquals(decodeResponse(packet.encode({ type: "response", id: 7, answers: [] })).id, 7);
});

/**
 * The Deno Deploy host's pinned HTTP/1.1 client and outbound port against real servers on
 * loopback: TLS verified against the name while the connection goes to the checked address (a
 * name no system resolver knows still works, so nothing resolved it twice), Content-Length,
 * chunked and close-delimited bodies, the byte cap, the SSRF refusal, and no redirects followed.
 */
import { assert, assertEquals, assertMatch, assertRejects } from "../../test/fixtures/assert.ts";
import { issueCertificate } from "../../test/fixtures/smtp_sink.ts";
import { RefusedTarget } from "../../schemas/public_address.ts";
import type { DnsPort } from "../../src/ports.ts";
import { denoOutboundFetch } from "./outbound.ts";
import { pinnedExchange } from "./pinned_http.ts";

const NAME = "hooks.pinned.test";

/** A DNS port that knows one name, as the DoH resolver would answer it. */
const dns = (addresses: Record<string, string[]>): DnsPort => ({
  txt: () => Promise.resolve([]),
  addresses: (name) => Promise.resolve(addresses[name] ?? []),
  mx: () => Promise.resolve([]),
  srv: () => Promise.resolve([]),
});

Deno.test("issue17#3: pinned HTTPS reaches the checked address and verifies the certificate against the name", async () => {
  const { ca, cert, key } = await issueCertificate([NAME]);
  const seen: { host: string | null; body: string; method: string }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    async (req) => {
      seen.push({ host: req.headers.get("host"), body: await req.text(), method: req.method });
      const path = new URL(req.url).pathname;
      if (path === "/redirect") return Response.redirect("https://elsewhere.test/", 302);
      if (path === "/big") return new Response("x".repeat(5000));
      if (path === "/chunked") {
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode("part one, "));
              c.enqueue(new TextEncoder().encode("part two"));
              c.close();
            },
          }),
        );
      }
      return Response.json({ ok: true }, { status: 201 });
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  try {
    const fetchPort = denoOutboundFetch(dns({ [NAME]: ["127.0.0.1"] }), {
      caCerts: [ca],
      maxResponseBytes: 1000,
    });
    const policy = { allowPrivate: true, httpsOnly: true };
    const res = await fetchPort(
      new Request(`https://${NAME}:${port}/deliver?x=1`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-sig": "abc" },
        body: JSON.stringify({ hello: "world" }),
      }),
      policy,
    );
    assertEquals(res.status, 201);
    assertEquals(await res.json(), { ok: true });
    assertEquals(seen[0], { host: `${NAME}:${port}`, body: '{"hello":"world"}', method: "POST" });

    const chunked = await fetchPort(new Request(`https://${NAME}:${port}/chunked`), policy);
    assertEquals(await chunked.text(), "part one, part two");
    const redirect = await fetchPort(new Request(`https://${NAME}:${port}/redirect`), policy);
    assertEquals(redirect.status, 302, "a redirect comes back as it is");
    assertEquals(seen.length, 3, "and is not followed");
    const big = await assertRejects(
      () => fetchPort(new Request(`https://${NAME}:${port}/big`), policy),
    );
    assertMatch(String(big), /larger than 1000 bytes/);

    // Without the name in the certificate's trust path (no CA), TLS fails: it is verified.
    await assertRejects(() =>
      pinnedExchange(new Request(`https://${NAME}:${port}/`), "127.0.0.1", {
        maxResponseBytes: 1000,
      })
    );
    // Loopback is refused unless the policy allows private targets, before any connection.
    const before = seen.length;
    await assertRejects(
      () =>
        fetchPort(new Request(`https://${NAME}:${port}/`), {
          allowPrivate: false,
          httpsOnly: true,
        }),
      RefusedTarget,
    );
    assertEquals(seen.length, before);
  } finally {
    await server.shutdown();
  }
});

Deno.test("issue17#3: pinned plain HTTP reads close-delimited and Content-Length bodies from a raw server", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const answers = [
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
    "HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhello and more",
    "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\r\n",
  ];
  const requests: string[] = [];
  const serving = (async () => {
    for (const answer of answers) {
      const conn = await listener.accept();
      const buf = new Uint8Array(4096);
      const n = await conn.read(buf);
      requests.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
      await conn.write(new TextEncoder().encode(answer));
      conn.close();
    }
  })();
  try {
    const fetchPort = denoOutboundFetch(dns({ "plain.test": ["127.0.0.1"] }));
    const policy = { allowPrivate: true };
    const first = await fetchPort(new Request(`http://plain.test:${port}/a`), policy);
    assertEquals(await first.text(), "until the end");
    assertMatch(
      requests[0],
      new RegExp(`^GET /a HTTP/1\\.1\\r\\nHost: plain\\.test:${port}\\r\\n`),
    );
    assert(requests[0].includes("Connection: close\r\n"));
    const second = await fetchPort(new Request(`http://plain.test:${port}/b`), policy);
    assertEquals([second.status, await second.text()], [202, "hello"]);
    await assertRejects(
      () => fetchPort(new Request(`http://plain.test:${port}/c`), policy),
      Error,
      "folded header field",
    );
  } finally {
    await serving;
    listener.close();
  }
});

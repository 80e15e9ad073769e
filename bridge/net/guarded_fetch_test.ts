import { assert, assertEquals, assertRejects } from "../../test/fixtures/assert.ts";
import { issueCertificate } from "../../test/fixtures/smtp_sink.ts";
import { RefusedTarget } from "../../schemas/public_address.ts";
import { createGuardedFetch, type GuardedFetchOptions } from "./guarded_fetch.ts";

const allow = { allowPrivate: true };

/** A guarded fetch whose every name resolves to 127.0.0.1, recording the names it resolved. */
function loopbackFetch(options: Omit<GuardedFetchOptions, "resolve">) {
  const asked: string[] = [];
  const fetch = createGuardedFetch({
    ...options,
    resolve: (name) => {
      asked.push(name);
      return Promise.resolve(["127.0.0.1"]);
    },
  });
  return { fetch, asked };
}

Deno.test("issue15#3: guarded fetch connects to the checked address, keeping the name for TLS and Host", async () => {
  const { ca, cert, key } = await issueCertificate(["peer.example.test"]);
  const hosts: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen() {} }, (r) => {
    hosts.push(r.headers.get("host") ?? "");
    const path = new URL(r.url).pathname;
    if (path === "/redirect") return Response.redirect("https://peer.example.test/elsewhere", 302);
    if (path === "/big") return new Response("x".repeat(4096));
    return new Response(`posted ${r.method}`);
  });
  const port = server.addr.port;
  const { fetch, asked } = loopbackFetch({ caCerts: [ca], maxResponseBytes: 1024 });
  try {
    const base = `https://peer.example.test:${port}`;
    const res = await fetch(new Request(`${base}/x`, { method: "POST", body: "{}" }), allow);
    assertEquals([res.status, await res.text()], [200, "posted POST"]);
    assertEquals(hosts, [`peer.example.test:${port}`]);
    assertEquals(asked, ["peer.example.test"], "resolved once, by us");

    const redirect = await fetch(new Request(`${base}/redirect`), allow);
    assertEquals(redirect.status, 302, "a redirect comes back, it is not followed");
    await redirect.body?.cancel();
    assertEquals(hosts.length, 2);

    const big = await fetch(new Request(`${base}/big`), allow);
    await assertRejects(() => big.text());

    // The certificate is checked against the name, not the address connected to.
    const other = createGuardedFetch({
      resolve: () => Promise.resolve(["127.0.0.1"]),
      caCerts: [ca],
    });
    await assertRejects(() => other(new Request(`https://wrong.example.test:${port}/`), allow));

    // Without the switch, the same answer is refused before any connection.
    const before = hosts.length;
    const refused = await fetch(new Request(`${base}/x`), { allowPrivate: false }).catch((e) => e);
    assert(refused instanceof RefusedTarget, String(refused));
    assert(refused.message.includes("resolves to a non-public address (127.0.0.1, loopback)"));
    assertEquals(hosts.length, before);
  } finally {
    await server.shutdown();
  }
});

Deno.test("issue20#f: a keep-alive guarded fetch reuses one checked connection, and close ends it", async () => {
  const { ca, cert, key } = await issueCertificate(["peer.example.test"]);
  const peers: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    (r, info) => {
      peers.push(`${info.remoteAddr.hostname}:${info.remoteAddr.port}`);
      return new Response(`got ${r.method} ${new URL(r.url).pathname}`);
    },
  );
  const { fetch, asked } = loopbackFetch({ caCerts: [ca], keepAliveMs: 2000 });
  try {
    const base = `https://peer.example.test:${server.addr.port}`;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(new Request(`${base}/m${i}`, { method: "POST", body: "{}" }), allow);
      assertEquals(await res.text(), `got POST /m${i}`);
    }
    assertEquals(new Set(peers).size, 1, `one connection for three requests: ${peers}`);
    assertEquals(asked.length, 3, "every request is checked, a kept connection or not");

    // The policy still applies to each request: a kept connection is no way around it.
    const refused = await fetch(new Request(`${base}/x`), { allowPrivate: false }).catch((e) => e);
    assert(refused instanceof RefusedTarget, String(refused));
    assertEquals(peers.length, 3);

    // The certificate was checked for the name; another name is a new pool key, checked again.
    const other = await fetch(new Request(`https://wrong.example.test:${server.addr.port}/`), allow)
      .catch((e) => e);
    assert(other instanceof Error, "a name the certificate does not carry fails");

    fetch.close();
    const again = await fetch(new Request(`${base}/after`), allow);
    assertEquals(await again.text(), "got GET /after");
    assertEquals(new Set(peers).size, 2, "after close, a new connection");
  } finally {
    fetch.close();
    await server.shutdown();
  }
});

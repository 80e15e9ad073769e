/**
 * Hostile corpus for issue 15 item 3 (SSRF): a non-admin account names internal targets for the
 * server to fetch. Webhook creation over HTTP with a bearer token refuses every spelling of a
 * loopback, private, link-local or otherwise non-public address (IPv4-mapped and -compatible
 * IPv6, NAT64, 6to4, Teredo, decimal/octal/hex IPv4); at send time a public-looking name that the
 * DNS (a fake server on loopback) points inside is never posted to, which a real listener proves;
 * federation discovery refuses a delegation to a mapped loopback address before any request.
 */
import { assert, assertEquals } from "../fixtures/assert.ts";
import { ALICE, createTestGateway, expectProblem, type TestGateway } from "../fixtures/app.ts";
import { startFakeDns } from "../fixtures/fake_dns.ts";
import { federationTestTls, startFederation } from "../fixtures/federation.ts";
import { discover } from "../../src/federation/discovery.ts";
import { startTxWorker } from "../../src/transactional/worker.ts";

/** Every spelling of a target inside the host or its networks that a webhook URL may carry. */
const HOSTILE_URLS = [
  "http://[::ffff:127.0.0.1]:8080/", // the reported bypass: WHATWG URL prints [::ffff:7f00:1]
  "http://[::ffff:7f00:1]/",
  "http://[0:0:0:0:0:ffff:127.0.0.1]/",
  "http://[::ffff:a9fe:a9fe]/latest/meta-data/", // 169.254.169.254, the cloud metadata service
  "http://[::ffff:10.0.0.1]/",
  "http://[::127.0.0.1]/", // IPv4-compatible (RFC 4291 section 2.5.5.1)
  "http://[64:ff9b::7f00:1]/", // NAT64 (RFC 6052) of 127.0.0.1
  "http://[2002:7f00:1::1]/", // 6to4 (RFC 3056) of 127.0.0.1
  "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", // Teredo (RFC 4380)
  "http://[::1]/",
  "http://[::]/",
  "http://[fe80::1]/",
  "http://[fec0::1]/", // site-local (RFC 3879)
  "http://[fd00::1]/",
  "http://[ff02::1]/",
  "http://[100::1]/", // discard-only (RFC 6666)
  "http://2130706433/", // 127.0.0.1 as one decimal number
  "http://0177.0.0.1/", // octal
  "http://0x7f.0.0.1/", // hex
  "http://0x7f000001/",
  "http://127.1/",
  "http://0/",
  "http://0.0.0.0/",
  "http://10.0.0.1/",
  "http://172.16.5.4/",
  "http://192.168.0.1/",
  "http://169.254.169.254/latest/meta-data/",
  "http://100.64.0.1/",
  "http://192.0.0.8/",
  "http://198.18.0.1/",
  "http://240.0.0.1/",
  "http://255.255.255.255/",
  "http://224.0.0.1/",
  "http://localhost/",
  "http://LOCALHOST./",
  "http://api.localhost/",
  "http://printer.local/",
  "http://metadata.google.internal/",
  "http://router.home.arpa/",
  "http://%31%32%37.0.0.1/", // percent-encoded digits
];

Deno.test("issue15#3: webhook creation refuses every spelling of a non-public address (422)", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    for (const url of HOSTILE_URLS) {
      const res = await gw.call("POST", "/v1/webhooks", {
        token,
        body: { url, events: ["email.queued"] },
      });
      const problem = await expectProblem(res, 422, "validation_failed").catch((e) => {
        throw new Error(`${url}: ${e.message}`);
      });
      assert(/private|loopback|public/.test(problem.detail), `${url}: ${problem.detail}`);
    }
    for (const url of ["https://hooks.example.com/x", "https://[2606:4700::1111]/x"]) {
      const res = await gw.call("POST", "/v1/webhooks", {
        token,
        body: { url, events: ["email.queued"] },
      });
      assertEquals(res.status, 201, `${url}: ${await res.text()}`);
    }
  } finally {
    gw.close();
  }
});

/** A plain HTTP listener on loopback that records every request it gets. */
function listener() {
  const seen: { host: string | null; path: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push({ host: req.headers.get("host"), path: new URL(req.url).pathname });
    return new Response("internal secret", { status: 200 });
  });
  return { seen, port: server.addr.port, server };
}

async function deliveriesOf(gw: TestGateway, token: string, id: number) {
  const res = await gw.call("GET", `/v1/webhooks/${id}/deliveries`, { token });
  return (await res.json()).deliveries as {
    state: string;
    lastStatus: number | null;
    lastError: string | null;
  }[];
}

/**
 * Makes the account's only webhook point at `url` (allowed at creation, as if stored before the
 * fix or while the switch was on), queues one event and runs the worker once.
 */
async function postOnce(gw: TestGateway, url: string) {
  const token = await gw.login(ALICE);
  const { webhooks } = await (await gw.call("GET", "/v1/webhooks", { token })).json();
  for (const old of webhooks) await gw.call("DELETE", `/v1/webhooks/${old.id}`, { token });
  const allow = gw.deps.config;
  gw.deps.config = { ...allow, webhookAllowPrivate: true };
  const created = await gw.call("POST", "/v1/webhooks", {
    token,
    body: { url, events: ["email.queued"] },
  });
  gw.deps.config = allow;
  assertEquals(created.status, 201, await created.clone().text());
  const { webhook } = await created.json();
  await gw.call("POST", "/v1/emails", {
    token,
    body: { from: ALICE.address, to: ["x@remote.test"], text: "x" },
  });
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  await worker.tick();
  await worker.close();
  return await deliveriesOf(gw, token, webhook.id);
}

Deno.test("issue15#3: a stored webhook to [::ffff:127.0.0.1] is never posted to", async () => {
  const rx = listener();
  const gw = await createTestGateway();
  try {
    for (const host of ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "2130706433"]) {
      const [d] = await postOnce(gw, `http://${host}:${rx.port}/hook`);
      assertEquals(rx.seen, [], `${host}: no request reached the loopback listener`);
      assertEquals([d.state, d.lastStatus], ["pending", null], host);
      assert(/non-public|private|loopback/.test(d.lastError ?? ""), `${host}: ${d.lastError}`);
      assert(!d.lastError?.includes("internal secret"));
    }
  } finally {
    await rx.server.shutdown();
    gw.close();
  }
});

Deno.test("issue15#3: a public-looking name the DNS points at loopback is never posted to", async () => {
  const rx = listener();
  const dns = await startFakeDns({
    "hooks.example.test": { A: ["127.0.0.1"] },
    "mapped.example.test": { AAAA: ["::ffff:127.0.0.1"] },
    "mixed.example.test": { A: ["93.184.216.34", "127.0.0.1"] },
  });
  const gw = await createTestGateway({ dnsServers: dns.server });
  try {
    for (const name of ["hooks.example.test", "mapped.example.test", "mixed.example.test"]) {
      const [d] = await postOnce(gw, `http://${name}:${rx.port}/hook`);
      assertEquals(rx.seen, [], `${name}: no request reached the loopback listener`);
      assertEquals(d.state, "pending", name);
      assert(/non-public address/.test(d.lastError ?? ""), `${name}: ${d.lastError}`);
    }
    // With the operator's switch on, the same name is reached at exactly the address the DNS
    // gave (the system resolver does not know it), with the name kept as the Host.
    gw.deps.config = { ...gw.deps.config, webhookAllowPrivate: true };
    const [ok] = await postOnce(gw, `http://hooks.example.test:${rx.port}/hook`);
    assertEquals([ok.state, ok.lastStatus], ["succeeded", 200]);
    assertEquals(rx.seen, [{ host: `hooks.example.test:${rx.port}`, path: "/hook" }]);
  } finally {
    await rx.server.shutdown();
    await dns.close();
    gw.close();
  }
});

Deno.test("issue15#3: federation discovery refuses a delegation to a mapped loopback address", async () => {
  const { cert, key } = await federationTestTls();
  const hits: string[] = [];
  const decoy = Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen() {} }, (req) => {
    hits.push(req.url);
    return Response.json({ error: "internal" });
  });
  const fed = await startFederation(["alpha.test"]);
  try {
    const [alpha] = fed.peers;
    alpha.deps.config = { ...alpha.deps.config, federationAllowPrivate: false };
    const port = decoy.addr.port;
    fed.dns.zone["_sharp.mapped.test"] = { TXT: [`v=sharp1; host=[::ffff:127.0.0.1]:${port}`] };
    fed.dns.zone["_sharp.named.test"] = { TXT: [`v=sharp1; host=peer.named.test:${port}`] };
    fed.dns.zone["peer.named.test"] = { AAAA: ["::ffff:127.0.0.1"] };
    fed.dns.zone["direct.test"] = { A: ["10.1.2.3"] };
    for (const domain of ["mapped.test", "named.test", "direct.test"]) {
      const peer = await discover(alpha.deps, domain, true);
      assert(peer.status !== "peer", domain);
      assert(/non-public/.test(peer.detail ?? ""), `${domain}: ${peer.detail}`);
    }
    assertEquals(hits, [], "nothing reached the loopback listener");
  } finally {
    await fed.close();
    await decoy.shutdown();
  }
});

/**
 * The gateway's side of outbound delivery, through its HTTP contract (schemas/bridge_outbox.ts):
 * leased claims (also from two gateways sharing one database), lease takeover, results and their
 * retry schedule, the bridge-only DKIM key route, and the DNS records `postern domain dns` prints.
 */
import { eq } from "drizzle-orm";
import { SecretBox } from "../src/crypto.ts";
import { createDomain } from "../src/services/accounts.ts";
import { listDkimKeys } from "../src/services/dkim_keys.ts";
import { dnsRecords } from "../src/services/dns_records.ts";
import { backoffMs } from "../src/services/outbox_delivery.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { bridgeKey } from "./fixtures/bridge.ts";

/** Sends `count` messages from Alice, each to one remote recipient of `domains` in turn. */
async function queue(gw: TestGateway, count: number, domains = ["remote.test"]): Promise<void> {
  const token = await gw.login(ALICE);
  for (let i = 0; i < count; i++) {
    const res = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: [`user${i}@${domains[i % domains.length]}`],
        subject: `n${i}`,
        text: "x",
      },
    });
    assertEquals(res.status, 201, await res.clone().text());
  }
}

Deno.test("backoff: one minute doubling per attempt, capped at an hour, ±20 % jitter", () => {
  for (const [attempts, base] of [[1, 60], [2, 120], [3, 240], [6, 1920], [7, 3600], [30, 3600]]) {
    assertEquals(backoffMs(attempts, () => 0), base * 800, `attempt ${attempts}, low`);
    assertEquals(backoffMs(attempts, () => 1), base * 1200, `attempt ${attempts}, high`);
    assertEquals(backoffMs(attempts, () => 0.5), base * 1000, `attempt ${attempts}, middle`);
  }
});

Deno.test("claim: bridge scope only; rows grouped by domain; bytes only for the lease holder", async () => {
  const gw = await createTestGateway();
  try {
    await queue(gw, 4, ["a.test", "b.test"]);
    const key = await bridgeKey(gw);
    const alice = await gw.login(ALICE);
    const body = { worker: "w1", limit: 10, leaseSeconds: 60 };
    assertEquals((await gw.call("POST", "/v1/bridge/outbox/claim", { body })).status, 401);
    const denied = await gw.call("POST", "/v1/bridge/outbox/claim", { token: alice, body });
    assertEquals(denied.status, 403);
    const bad = await gw.call("POST", "/v1/bridge/outbox/claim", {
      token: key,
      body: { worker: "", limit: 0 },
    });
    assertEquals(bad.status, 422);
    const fields = (await bad.json()).errors.map((e: { path: string }) => e.path).sort();
    assertEquals(fields, ["limit", "worker"]);

    const res = await gw.call("POST", "/v1/bridge/outbox/claim", { token: key, body });
    assertEquals(res.status, 200);
    const claim = await res.json();
    assertEquals(claim.groups.map((g: { domain: string }) => g.domain).sort(), [
      "a.test",
      "b.test",
    ]);
    const items = claim.groups.flatMap((g: { items: unknown[] }) => g.items);
    assertEquals(items.length, 4);
    const item = items[0];
    assertEquals(item.mailFrom, ALICE.address);
    assertEquals(item.attempts, 0);
    assert(item.size > 0 && /^[0-9a-f]{64}$/.test(item.blobSha256));

    const raw = await gw.call("GET", `/v1/bridge/outbox/${item.id}/raw?worker=w1`, { token: key });
    assertEquals(raw.status, 200);
    assertEquals(raw.headers.get("content-type"), "message/rfc822");
    const bytes = new Uint8Array(await raw.arrayBuffer());
    assertEquals(bytes.byteLength, item.size);
    assert(new TextDecoder().decode(bytes).includes("Subject: n"));
    const other = await gw.call("GET", `/v1/bridge/outbox/${item.id}/raw?worker=w2`, {
      token: key,
    });
    assertEquals(other.status, 409);
    const again = await gw.call("POST", "/v1/bridge/outbox/claim", {
      token: key,
      body: { ...body, worker: "w2" },
    });
    assertEquals((await again.json()).groups, [], "leased rows are not handed out twice");
    const missing = await gw.call("POST", "/v1/bridge/outbox/999999/result", {
      token: key,
      body: { worker: "w1", outcome: "sent", message: "250 ok" },
    });
    assertEquals(missing.status, 404);
    const rows = await gw.deps.store.db.select().from(schema.outbox);
    assert(rows.every((r) => r.state === "sending" && r.leaseOwner === "w1"));
  } finally {
    gw.close();
  }
});

/** A separate gateway process on the same database, claiming until nothing is left. */
const CLAIMER = `
import { buildDeps } from "ROOT/hosts/process/deps_node.ts";
import { openStore } from "ROOT/hosts/process/open_store.ts";
import { createApp } from "ROOT/src/app.ts";
import { parseConfig } from "ROOT/src/config.ts";
import { silentLogger } from "ROOT/src/ports.ts";
const [url, key, worker] = Deno.args;
const parsed = parseConfig({});
if (!parsed.ok) throw new Error("config");
const store = await openStore(url);
const app = createApp(await buildDeps(parsed.config, store, "test-master-key-0123456789abcdef0123", silentLogger));
const ids = [];
for (;;) {
  const res = await app.request("/v1/bridge/outbox/claim", {
    method: "POST",
    headers: { authorization: "Bearer " + key, "content-type": "application/json" },
    body: JSON.stringify({ worker, limit: 3, leaseSeconds: 600 }),
  });
  if (res.status !== 200) throw new Error("claim answered " + res.status + " " + await res.text());
  const got = (await res.json()).groups.flatMap((g) => g.items.map((i) => i.id));
  if (got.length === 0) break;
  ids.push(...got);
}
store.close();
console.log(JSON.stringify(ids));
`;

Deno.test("claim: gateways in separate processes sharing one database never get the same row", async () => {
  const gw = await createTestGateway();
  const list = await gw.deps.store.client.execute(
    "SELECT file FROM pragma_database_list WHERE name = 'main'",
  );
  const file = String(list.rows[0].file);
  assert(file.endsWith(".db"), `the test store is a file: ${file}`);
  try {
    await queue(gw, 60, ["a.test", "b.test", "c.test"]);
    const key = await bridgeKey(gw);
    const root = new URL("../", import.meta.url).href.replace(/\/$/, "");
    const workers = ["p1", "p2", "p3"];
    // `deno eval` from the project root, so the project's npm dependencies resolve.
    const outputs = await Promise.all(workers.map((worker) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", CLAIMER.replaceAll("ROOT", root), `file:${file}`, key, worker],
        cwd: new URL("../", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output()
    ));
    const owner = new Map<number, string>();
    outputs.forEach((out, i) => {
      assert(out.success, new TextDecoder().decode(out.stderr));
      const ids = JSON.parse(new TextDecoder().decode(out.stdout)) as number[];
      for (const id of ids) {
        assert(!owner.has(id), `row ${id} went to ${owner.get(id)} and ${workers[i]}`);
        owner.set(id, workers[i]);
      }
    });
    assertEquals(owner.size, 60, "every row was claimed exactly once");
    const rows = await gw.deps.store.db.select().from(schema.outbox);
    for (const row of rows) assertEquals(row.leaseOwner, owner.get(row.id));
    // How the rows split between the processes depends on scheduling, so it is not asserted;
    // what must hold is above: every row claimed once, and the store agrees on its owner.
  } finally {
    gw.close();
  }
});

Deno.test("lease: a lapsed lease passes to another worker; the old holder gets 409", async () => {
  const gw = await createTestGateway();
  let offset = 0;
  gw.deps.clock = { now: () => Date.now() + offset };
  try {
    await queue(gw, 2);
    const key = await bridgeKey(gw);
    const claim = async (worker: string) => {
      const res = await gw.call("POST", "/v1/bridge/outbox/claim", {
        token: key,
        body: { worker, limit: 10, leaseSeconds: 30 },
      });
      return (await res.json()).groups.flatMap((g: { items: { id: number }[] }) =>
        g.items.map((i) => i.id)
      );
    };
    const first = await claim("a");
    assertEquals(first.length, 2);
    assertEquals(await claim("b"), [], "still leased to a");
    offset += 31_000;
    const second = await claim("b");
    assertEquals(second.sort(), first.sort(), "b took over");

    const late = await gw.call("POST", `/v1/bridge/outbox/${first[0]}/result`, {
      token: key,
      body: { worker: "a", outcome: "sent", smtpCode: 250, message: "ok" },
    });
    assertEquals(late.status, 409);
    assertEquals((await late.json()).code, "conflict");
    const done = await gw.call("POST", `/v1/bridge/outbox/${first[0]}/result`, {
      token: key,
      body: { worker: "b", outcome: "sent", smtpCode: 250, message: "ok", remoteMta: "mx.x" },
    });
    assertEquals(done.status, 200);
    assertEquals((await done.json()).state, "sent");
    const twice = await gw.call("POST", `/v1/bridge/outbox/${first[0]}/result`, {
      token: key,
      body: { worker: "b", outcome: "sent", smtpCode: 250, message: "ok" },
    });
    assertEquals(twice.status, 409, "a finished row takes no more results");

    const deferred = await gw.call("POST", `/v1/bridge/outbox/${first[1]}/result`, {
      token: key,
      body: { worker: "b", outcome: "deferred", smtpCode: 421, message: "try later" },
    });
    const d = await deferred.json();
    assertEquals([d.state, d.attempts], ["deferred", 1]);
    const wait = Date.parse(d.nextAttemptAt) - (Date.now() + offset);
    assert(wait > 40_000 && wait < 75_000, `retry in about a minute, got ${wait}`);
    assertEquals(await claim("c"), [], "not due before its retry time");
    offset += 80_000;
    assertEquals(await claim("c"), [first[1]]);
    const events = await gw.deps.store.db.select().from(schema.events);
    const types = events.map((e) => e.type).filter((t) => t.startsWith("outbox."));
    assertEquals(types.filter((t) => t === "outbox.sent").length, 1);
    assertEquals(types.filter((t) => t === "outbox.deferred").length, 1);
  } finally {
    gw.close();
  }
});

Deno.test("DKIM keys: bridge-only route, generated once, private keys sealed at rest", async () => {
  const gw = await createTestGateway();
  try {
    const key = await bridgeKey(gw);
    const alice = await gw.login(ALICE);
    assertEquals((await gw.call("GET", `/v1/bridge/dkim/${DOMAIN}`, { token: alice })).status, 403);
    assertEquals(
      (await gw.call("GET", "/v1/bridge/dkim/elsewhere.test", { token: key })).status,
      404,
    );
    const res = await gw.call("GET", `/v1/bridge/dkim/${DOMAIN}`, { token: key });
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals(body.domain, DOMAIN);
    assertEquals(
      body.keys.map((k: { algorithm: string }) => k.algorithm),
      ["rsa-sha256", "ed25519-sha256"],
    );
    for (const k of body.keys) assert(k.privateKeyPem.startsWith("-----BEGIN PRIVATE KEY-----"));
    const again = await (await gw.call("GET", `/v1/bridge/dkim/${DOMAIN}`, { token: key })).json();
    assertEquals(
      again.keys.map((k: { selector: string }) => k.selector),
      body.keys.map((
        k: { selector: string },
      ) => k.selector),
    );
    const rows = await gw.deps.store.db.select().from(schema.dkimKeys);
    assertEquals(rows.length, 2);
    for (const row of rows) {
      assert(row.privateKey.startsWith("v1.") && !row.privateKey.includes("PRIVATE KEY"));
    }
    // RSA-2048: the SubjectPublicKeyInfo is 294 bytes; Ed25519: a bare 32-byte key (RFC 8463).
    const size = (b64: string) => atob(b64).length;
    const byAlgo = Object.fromEntries(rows.map((r) => [r.algorithm, size(r.publicKey)]));
    assertEquals(byAlgo, { "rsa-sha256": 294, "ed25519-sha256": 32 });
  } finally {
    gw.close();
  }
});

Deno.test("DKIM keys: created with the domain when the master key is at hand", async () => {
  const gw = await createTestGateway();
  try {
    const secrets = await SecretBox.fromMasterKey("another-master-key-0123456789abcdef");
    const domain = await createDomain(gw.deps.store, "Fresh.Example", secrets);
    const keys = await listDkimKeys(gw.deps.store.db, domain.id);
    assertEquals(keys.map((k) => k.algorithm), ["rsa-sha256", "ed25519-sha256"]);
    const [row] = await gw.deps.store.db.select().from(schema.domains).where(
      eq(schema.domains.id, domain.id),
    );
    assertEquals(row.name, "fresh.example");
    assert((await secrets.open(keys[0].privateKey)).includes("BEGIN PRIVATE KEY"));
  } finally {
    gw.close();
  }
});

Deno.test("DNS records: MX, SPF, both DKIM keys, DMARC, MTA-STS and TLS-RPT", () => {
  const keys = [
    { selector: "r20250101", algorithm: "rsa-sha256" as const, publicKey: "A".repeat(392) },
    { selector: "e20250101", algorithm: "ed25519-sha256" as const, publicKey: "B".repeat(44) },
  ];
  const { records, mtaStsPolicy } = dnsRecords("example.org", "mail.example.org", keys, "abc1");
  const lines = records.map((r) => `${r.name} ${r.type} ${r.value}`);
  assertEquals(lines, [
    "example.org. MX 10 mail.example.org.",
    "example.org. TXT v=spf1 mx a:mail.example.org ~all",
    `r20250101._domainkey.example.org. TXT v=DKIM1; k=rsa; p=${"A".repeat(392)}`,
    `e20250101._domainkey.example.org. TXT v=DKIM1; k=ed25519; p=${"B".repeat(44)}`,
    "_dmarc.example.org. TXT v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org",
    "_mta-sts.example.org. TXT v=STSv1; id=abc1",
    "mta-sts.example.org. CNAME mail.example.org.",
    "_smtp._tls.example.org. TXT v=TLSRPTv1; rua=mailto:postmaster@example.org",
  ]);
  assertEquals(
    mtaStsPolicy,
    "version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n",
  );
});

Deno.test("postern domain add generates DKIM keys; domain dns prints the records", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-dns-" });
  const env = {
    ...Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
    ),
    NO_COLOR: "1",
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_HOSTNAME: "mail.example.org",
    POSTERN_ADMIN_PASSWORD: "admin-password-for-tests",
  };
  const cli = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, ...args],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert(out.success, `${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    return text;
  };
  try {
    await cli("init");
    assert((await cli("domain", "add", "example.org")).includes("DKIM"));
    const zone = await cli("domain", "dns", "example.org");
    assert(/^example\.org\.\t3600\tIN\tMX\t10 mail\.example\.org\.$/m.test(zone), zone);
    assert(/^r\d{8}\._domainkey\.example\.org\.\t3600\tIN\tTXT\t"v=DKIM1; k=rsa; p=/m.test(zone));
    assert(
      /^e\d{8}\._domainkey\.example\.org\.\t3600\tIN\tTXT\t"v=DKIM1; k=ed25519; p=/m.test(zone),
    );
    assert(/^_dmarc\.example\.org\.\t3600\tIN\tTXT\t"v=DMARC1; /m.test(zone));
    assert(/^_mta-sts\.example\.org\.\t3600\tIN\tTXT\t"v=STSv1; id=[0-9a-f]{20}"$/m.test(zone));
    assert(/^_smtp\._tls\.example\.org\.\t3600\tIN\tTXT\t"v=TLSRPTv1; /m.test(zone));
    assert(/^;\s+mode: testing$/m.test(zone), "the MTA-STS policy file is printed");
    // The RSA key's value exceeds 255 octets: split into character-strings (RFC 1035 3.3.14).
    assert(/k=rsa; p=[^"]+" "[^"]+"$/m.test(zone), "long TXT split into strings");
    const json = JSON.parse(await cli("domain", "dns", "example.org", "--json"));
    // 8 mail records; 11 discovery records (6 RFC 6186 SRV, RFC 5804's _sieve._tcp SRV,
    // autoconfig, autodiscover, 2 SHARP).
    assertEquals(json.records.length, 19);
    const again = await cli("domain", "dns", "example.org");
    assertEquals(again, zone, "stable output: the keys are generated once");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

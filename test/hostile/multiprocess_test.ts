/**
 * Hostile corpus, several processes on one store (issue 15 items 18 and 19).
 *
 * Item 18: whatever one process changes that decides routing or authentication (domains,
 * accounts, API keys) holds on another process's very next request; no cache answers from what
 * it remembered before the other's commit. Process B is a gateway in this test process on its
 * own connections to a temporary database file, driven through its HTTP API; process A is the
 * real `postern` CLI writing to the same file. The last test runs two real `postern gateway`
 * processes on one data folder, the issue's own setting.
 *
 * Item 19: `postern init` on a second node of a store refuses and writes nothing (every file
 * under both data folders hashed before and after), and nodes that share POSTERN_MASTER_KEY
 * accept each other's tokens.
 */
import { assert, assertEquals, assertMatch } from "../fixtures/assert.ts";
import { buildDeps } from "../../hosts/process/deps_node.ts";
import { openStore } from "../../hosts/process/open_store.ts";
import { createApp } from "../../src/app.ts";
import { type Config, parseConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/ports.ts";
import { createAccount, createDomain } from "../../src/services/accounts.ts";
import { createApiKey } from "../../src/auth/api_keys.ts";
import { rawSql, type Store } from "../../src/store/store.ts";
import { LISTENERS_OFF, listeningPort } from "../fixtures/serve_env.ts";
import { type CliResult, cliRun } from "../import_fixture.ts";

const ROOT = new URL("../../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const MASTER_KEY = "multiprocess-master-key-0123456789abcdef";
const DOMAIN = "postern.test";

function ok(r: CliResult, what: string): CliResult {
  assertEquals(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

interface ProcessB {
  store: Store;
  /** A request to B's gateway with `key` as bearer credential. */
  call(key: string, method: string, path: string, body?: unknown): Promise<Response>;
  /** B's API key with the bridge scope (what a bridge beside B uses). */
  bridgeKey: string;
  /** The environment that makes a CLI process ("A") work on B's database. */
  envA: Record<string, string>;
  close(): void;
}

async function startB(): Promise<ProcessB> {
  const dir = await Deno.makeTempDir({ prefix: "postern-multiproc-" });
  const url = `file:${dir}/postern.db`;
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  const config: Config = { ...parsed.config, hostname: DOMAIN };
  const store = await openStore(url);
  const deps = await buildDeps(config, store, MASTER_KEY, silentLogger);
  await createDomain(store, DOMAIN);
  const admin = await createAccount(
    store,
    { address: `admin@${DOMAIN}`, password: "admin-password-1", role: "admin" },
    { quotaBytes: config.defaultQuotaBytes, nowMs: Date.now() },
  );
  const { key: bridgeKey } = await createApiKey(store, admin.id, {
    name: "bridge",
    scopes: ["bridge", "send", "read", "admin"],
  });
  const app = createApp(deps);
  return {
    store,
    bridgeKey,
    envA: {
      POSTERN_DATA_DIR: `${dir}/a`,
      POSTERN_DATABASE_URL: url,
      POSTERN_MASTER_KEY: MASTER_KEY,
    },
    call: (key, method, path, body) =>
      Promise.resolve(app.request(path, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          "x-postern-peer": "192.0.2.10",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      })),
    close: () => {
      store.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

/** B's RCPT TO verdict for `recipient`, as its SMTP listener would ask (no sender: MX mail). */
async function rcpt(b: ProcessB, recipient: string): Promise<{ accept: boolean; local: boolean }> {
  const res = await b.call(b.bridgeKey, "POST", "/v1/bridge/recipient", { recipient });
  assertEquals(res.status, 200);
  const { accept, local } = await res.json();
  return { accept, local };
}

Deno.test("issue15#18: a domain and account added by another process are local on the next message", async () => {
  const b = await startB();
  try {
    // B has just answered for the domain: "not ours" (a relay attempt, refused).
    assertEquals(await rcpt(b, "carol@fresh.example"), { accept: false, local: false });

    ok(await cliRun(["domain", "add", "fresh.example"], b.envA), "A: domain add");
    ok(
      await cliRun(
        ["account", "add", "carol@fresh.example", "--password", "carol-password-1"],
        b.envA,
      ),
      "A: account add",
    );

    // At once, on B: the domain is local, carol is served here, and mail to her stays here.
    const sent = await b.call(b.bridgeKey, "POST", "/v1/emails", {
      from: `admin@${DOMAIN}`,
      to: ["carol@fresh.example"],
      subject: "hello from B",
      text: "local mail",
    });
    assertEquals(sent.status, 201, await sent.clone().text());
    const queued = await rawSql(b.store.db).get<{ n: number }>(
      "SELECT count(*) AS n FROM outbox WHERE rcpt_to = ?",
      ["carol@fresh.example"],
    );
    assertEquals(queued?.n, 0, "mail for a local domain is never queued for outbound delivery");
    const stored = await rawSql(b.store.db).get<{ n: number }>(
      `SELECT count(*) AS n FROM messages m JOIN accounts a ON a.id = m.account_id
       WHERE a.address = ?`,
      ["carol@fresh.example"],
    );
    assertEquals(stored?.n, 1, "delivered into carol's mailbox by B");
    assertEquals(await rcpt(b, "carol@fresh.example"), { accept: true, local: true });
  } finally {
    b.close();
  }
});

Deno.test("issue15#18: an API key revoked or an account deleted by another process stops working on B at once", async () => {
  const b = await startB();
  try {
    const add = (address: string) =>
      cliRun(["account", "add", address, "--password", "a-password-123"], b.envA);
    ok(await add(`dave@${DOMAIN}`), "A: account add dave");
    ok(await add(`eve@${DOMAIN}`), "A: account add eve");
    const key = async (address: string) =>
      JSON.parse(
        ok(
          await cliRun(
            ["apikey", "create", address, "--name", "k", "--scope", "read", "--json"],
            b.envA,
          ),
          "A: apikey create",
        ).stdout,
      ) as { id: number; key: string };
    const dave = await key(`dave@${DOMAIN}`);
    const eve = await key(`eve@${DOMAIN}`);

    // B has verified both keys and found both addresses served here.
    assertEquals((await b.call(dave.key, "GET", "/v1/mailboxes")).status, 200);
    assertEquals((await b.call(eve.key, "GET", "/v1/mailboxes")).status, 200);
    assertEquals(await rcpt(b, `eve@${DOMAIN}`), { accept: true, local: true });

    ok(await cliRun(["apikey", "revoke", `dave@${DOMAIN}`, String(dave.id)], b.envA), "A: revoke");
    assertEquals((await b.call(dave.key, "GET", "/v1/mailboxes")).status, 401, "revoked on A");

    ok(await cliRun(["account", "delete", `eve@${DOMAIN}`], b.envA), "A: account delete");
    assertEquals((await b.call(eve.key, "GET", "/v1/mailboxes")).status, 401, "deleted on A");
    const verdict = await rcpt(b, `eve@${DOMAIN}`);
    assertEquals(verdict, { accept: false, local: true }, "no mailbox for a deleted account");
  } finally {
    b.close();
  }
});

/**
 * Every file under `dir` (relative name, mode and a hash of its bytes), for before/after checks.
 * SQLite's `-shm` file is left out: it is the WAL's shared-memory index, which every reader of
 * the database updates (read marks) and which holds no data.
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (sub: string) => {
    for await (const entry of Deno.readDir(`${dir}${sub}`)) {
      const name = `${sub}/${entry.name}`;
      if (name.endsWith("-shm")) continue;
      const info = await Deno.stat(`${dir}${name}`);
      if (entry.isDirectory) {
        out[name + "/"] = (info.mode! & 0o7777).toString(8);
        await walk(name);
        continue;
      }
      const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}${name}`));
      out[name] = `${(info.mode! & 0o7777).toString(8)} ${
        Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")
      }`;
    }
  };
  await walk("");
  return out;
}

/** A `postern gateway` process on a free port; resolves once it listens. */
async function startGateway(env: Record<string, string>) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "gateway", "--port", "0"],
    cwd: ROOT.pathname,
    env: { ...base, NO_COLOR: "1", ...LISTENERS_OFF, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const { port, log, drain } = await listeningPort(child.stderr);
  const drained = drain();
  return {
    port,
    log,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    async stop() {
      if (port) child.kill("SIGTERM");
      await drained;
      return await child.status;
    },
  };
}

const ADMIN_PASSWORD = "admin-password-for-tests";

/** Node 1: an initialised data folder of its own (`<dir>/n1`). */
async function initNode1() {
  const dir = await Deno.makeTempDir({ prefix: "postern-nodes-" });
  const env1 = { POSTERN_DATA_DIR: `${dir}/n1`, POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD };
  ok(await cliRun(["init", "--json"], env1), "init on node 1");
  // Node 2 has a data folder of its own and shares node 1's store.
  await Deno.mkdir(`${dir}/n2`);
  const env2 = {
    POSTERN_DATA_DIR: `${dir}/n2/data`,
    POSTERN_DATABASE_URL: `file:${dir}/n1/postern.db`,
    POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  return { dir, env1, env2 };
}

Deno.test("issue15#19: init on a second node refuses and writes nothing", async () => {
  const { dir, env1, env2 } = await initNode1();
  const before = await snapshot(dir);
  assert(before["/n1/master.key"], "node 1 has its master key");

  // A conflict with the store exits 3 (cli/args.ts EXIT_CONFLICT), after every check, before any write.
  const again = await cliRun(["init"], env2);
  assertEquals(again.code, 3, again.stderr);
  assertMatch(again.stderr, /existing store/);
  assertMatch(again.stderr, /POSTERN_MASTER_KEY/); // how a second node gets the key
  // Another domain and admin on the same store: refused as well (the store is initialised).
  const other = await cliRun(["init", "--domain", "other.example"], env2);
  assertEquals(other.code, 3, other.stderr);
  // Even asked to reset the password, a node without the store's master key changes nothing.
  const reset = await cliRun(["init", "--reset-admin-password"], env2);
  assertEquals(reset.code, 3, reset.stderr);
  assertMatch(reset.stderr, /POSTERN_MASTER_KEY/);
  // With a master key that is not the store's, too.
  const wrongKey = { ...env2, POSTERN_MASTER_KEY: "not-the-master-key-of-node-1-0123456789" };
  const wrong = await cliRun(["init", "--reset-admin-password"], wrongKey);
  assertEquals(wrong.code, 3, wrong.stderr);
  assertMatch(wrong.stderr, /master key/);
  // And on node 1 itself: already initialised, nothing changed (idempotent, exit 0).
  const same = await cliRun(["init"], env1);
  assertEquals(same.code, 0, same.stderr);
  assertMatch(same.stdout + same.stderr, /already initialised/);

  assertEquals(await snapshot(dir), before, "no file was written or changed");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue15#19: nodes sharing POSTERN_MASTER_KEY accept each other's tokens", async () => {
  const { dir, env1, env2 } = await initNode1();
  const key = (await Deno.readTextFile(`${dir}/n1/master.key`)).trim();
  assertEquals((await cliRun(["init"], env2)).code, 3, "node 2's init refuses");

  // Without the key node 2 does not start (no key of its own was made by the refused init).
  const keyless = await startGateway(env2);
  assertEquals(keyless.port, 0);
  assertMatch(keyless.log, /POSTERN_MASTER_KEY/);
  await keyless.stop();

  const node1 = await startGateway(env1);
  const node2 = await startGateway({ ...env2, POSTERN_MASTER_KEY: key });
  try {
    assert(node1.port && node2.port, `${node1.log}\n${node2.log}`);
    const login = await fetch(node1.url("/v1/auth/login"), {
      method: "POST",
      headers: { "content-type": "application/json", "x-postern-peer": "192.0.2.20" },
      body: JSON.stringify({ address: "admin@postern.localhost", password: ADMIN_PASSWORD }),
    });
    assertEquals(login.status, 200);
    const { accessToken } = await login.json();
    const onNode2 = await fetch(node2.url("/v1/mailboxes"), {
      headers: { authorization: `Bearer ${accessToken}`, "x-postern-peer": "192.0.2.20" },
    });
    assertEquals(onNode2.status, 200, "node 1's token is good on node 2");
    await onNode2.body?.cancel();
  } finally {
    await node1.stop();
    await node2.stop();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue15#18: two `postern gateway` processes on one data folder route and authenticate alike at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-two-gateways-" });
  const env = {
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD,
    POSTERN_MASTER_KEY: MASTER_KEY,
  };
  ok(await cliRun(["init"], env), "init");
  const a = await startGateway(env);
  const b = await startGateway(env);
  try {
    assert(a.port && b.port, `${a.log}\n${b.log}`);
    const call = async (
      node: typeof a,
      token: string,
      method: string,
      path: string,
      body?: unknown,
    ) => {
      const res = await fetch(node.url(path), {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          "x-postern-peer": "192.0.2.30",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const login = await fetch(a.url("/v1/auth/login"), {
      method: "POST",
      headers: { "content-type": "application/json", "x-postern-peer": "192.0.2.30" },
      body: JSON.stringify({ address: "admin@postern.localhost", password: ADMIN_PASSWORD }),
    });
    const { accessToken } = await login.json();
    const send = (to: string) =>
      call(b, accessToken, "POST", "/v1/emails", {
        from: "admin@postern.localhost",
        to: [to],
        subject: "via B",
        text: "hi",
      });

    // B answers for fresh.example first: remote, so queued.
    const before = await send("someone@fresh.example");
    assertEquals(before.status, 201, JSON.stringify(before.body));
    assertEquals(before.body.recipients[0].status, "queued");

    // A adds the domain and an account in it; B's very next message to it stays here.
    assertEquals(
      (await call(a, accessToken, "POST", "/v1/admin/domains", { name: "fresh.example" })).status,
      201,
    );
    const carol = { address: "carol@fresh.example", password: "carol-password-1" };
    assertEquals((await call(a, accessToken, "POST", "/v1/admin/accounts", carol)).status, 201);
    const after = await send("carol@fresh.example");
    assertEquals(after.status, 201, JSON.stringify(after.body));
    assertEquals(after.body.recipients[0].status, "delivered", "local on B at once, not queued");

    // A key made on A works on B; revoked on A, it stops on B at once.
    const made = await call(a, accessToken, "POST", "/v1/api-keys", {
      name: "k",
      scopes: ["read"],
    });
    assertEquals(made.status, 201);
    assertEquals((await call(b, made.body.key, "GET", "/v1/mailboxes")).status, 200);
    assertEquals(
      (await call(a, accessToken, "DELETE", `/v1/api-keys/${made.body.id}`)).status,
      204,
    );
    assertEquals((await call(b, made.body.key, "GET", "/v1/mailboxes")).status, 401);
  } finally {
    await a.stop();
    await b.stop();
  }
  await Deno.remove(dir, { recursive: true });
});

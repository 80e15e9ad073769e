/**
 * Hostile corpus, several processes on one store (issue 15 items 18 and 19).
 *
 * Process B is a gateway in this test process on its own connections to a temporary database
 * file, driven through its HTTP API with bearer credentials; process A is the real `postern` CLI,
 * a subprocess writing to the same file. Whatever A changes that decides routing or
 * authentication (domains, accounts, API keys) must hold on B's very next request: B's caches
 * may not answer from what they remembered before A's commit.
 */
import { assertEquals } from "../fixtures/assert.ts";
import { buildDeps } from "../../cli/deps_node.ts";
import { openStore } from "../../cli/open_store.ts";
import { createApp } from "../../src/app.ts";
import { type Config, parseConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/ports.ts";
import { createAccount, createDomain } from "../../src/services/accounts.ts";
import { createApiKey } from "../../src/auth/api_keys.ts";
import { rawSql, type Store } from "../../src/store/store.ts";
import { LISTENERS_OFF } from "../fixtures/serve_env.ts";

const ROOT = new URL("../../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const MASTER_KEY = "multiprocess-master-key-0123456789abcdef";
const DOMAIN = "postern.test";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `postern …` as its own process with only `env` (plus PATH/HOME) for settings. */
async function cli(args: string[], env: Record<string, string>): Promise<Result> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT.pathname,
    env: { ...base, NO_COLOR: "1", ...LISTENERS_OFF, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function ok(r: Result, what: string): Result {
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
    close: () => store.close(),
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

    ok(await cli(["domain", "add", "fresh.example"], b.envA), "A: domain add");
    ok(
      await cli(
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
      cli(["account", "add", address, "--password", "a-password-123"], b.envA);
    ok(await add(`dave@${DOMAIN}`), "A: account add dave");
    ok(await add(`eve@${DOMAIN}`), "A: account add eve");
    const key = async (address: string) =>
      JSON.parse(
        ok(
          await cli(
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

    ok(await cli(["apikey", "revoke", `dave@${DOMAIN}`, String(dave.id)], b.envA), "A: revoke");
    assertEquals((await b.call(dave.key, "GET", "/v1/mailboxes")).status, 401, "revoked on A");

    ok(await cli(["account", "delete", `eve@${DOMAIN}`], b.envA), "A: account delete");
    assertEquals((await b.call(eve.key, "GET", "/v1/mailboxes")).status, 401, "deleted on A");
    const verdict = await rcpt(b, `eve@${DOMAIN}`);
    assertEquals(verdict, { accept: false, local: true }, "no mailbox for a deleted account");
  } finally {
    b.close();
  }
});

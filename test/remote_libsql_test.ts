/**
 * Postern on a remote libSQL database, end to end: the real CLI and a real `postern gateway`
 * process pointed at a Hrana server (test/fixtures/hrana_server.ts: the libSQL engine behind
 * libSQL's remote protocol) by POSTERN_DATABASE_URL and POSTERN_DATABASE_AUTH_TOKEN.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { startHranaServer } from "./fixtures/hrana_server.ts";
import { LISTENERS_OFF, listeningPort } from "./fixtures/serve_env.ts";
import { cliRun } from "./import_fixture.ts";
import { redactDatabaseUrl } from "../cli/context.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const ADMIN = "admin@postern.localhost";
const ADMIN_PASSWORD = "admin-password-for-tests";
const TOKEN = "remote-token-that-must-never-be-printed";

async function cli(args: string[], env: Record<string, string>) {
  const r = await cliRun(args, env);
  assertEquals(r.code, 0, `postern ${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
  assert(!(r.stdout + r.stderr).includes(TOKEN), "the auth token is never printed");
  return r;
}

/** `postern serve` or `gateway` as a child, its JSON log on stderr (hosts/process/serve.ts). */
function spawnServer(args: string[], env: Record<string, string>): Deno.ChildProcess {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT.pathname,
    env: { ...base, ...LISTENERS_OFF, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

Deno.test("issue16#3: `postern serve --init-if-needed` starts on an empty remote libSQL database", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-remote-" });
  const hrana = startHranaServer({ db: `${dir}/remote.db`, authToken: TOKEN });
  const serve = spawnServer(["serve", "--init-if-needed", "--port", "0"], {
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_DATABASE_URL: hrana.url,
    POSTERN_DATABASE_AUTH_TOKEN: TOKEN,
    POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  try {
    const { port, log, drain } = await listeningPort(serve.stderr);
    assert(port > 0, `no server.listening line:\n${log}`);
    const drained = drain();
    const login = await fetch(`http://127.0.0.1:${port}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address: ADMIN, password: ADMIN_PASSWORD }),
    });
    assertEquals(login.status, 200, "the admin --init-if-needed made, on the remote store");
    await login.body?.cancel();
    serve.kill("SIGTERM");
    assertEquals((await serve.status).code, 0);
    await drained;
    assert(!log.includes(TOKEN));
  } finally {
    try {
      serve.kill("SIGKILL");
    } catch { /* already ended */ }
    await serve.status;
    await hrana.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue16#3: init, migrate --dry-run and a real `postern gateway` on remote libSQL: sign in, send to self, read it back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-remote-" });
  const hrana = startHranaServer({ db: `${dir}/remote.db`, authToken: TOKEN });
  const env = {
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_DATABASE_URL: hrana.url,
    POSTERN_DATABASE_AUTH_TOKEN: TOKEN,
    POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  let gateway: Deno.ChildProcess | undefined;
  try {
    // migrate --dry-run against the remote URL: everything pending, nothing applied.
    const fresh = JSON.parse((await cli(["migrate", "--dry-run", "--json"], env)).stdout);
    assert(fresh.pending.length >= 1);
    assertEquals(fresh.applied, []);
    // The token may also come in the URL (libSQL's ?authToken=): it is not printed either.
    const inUrl = await cli(["migrate", "--dry-run"], {
      ...env,
      POSTERN_DATABASE_URL: `${hrana.url}/?authToken=${TOKEN}`,
      POSTERN_DATABASE_AUTH_TOKEN: "",
    });
    assertMatch(inUrl.stdout, /authToken=%28set%29/);
    const before = hrana.stats.statements;
    await cli(["init"], env);
    assert(hrana.stats.statements > before, "init ran its statements on the remote server");
    const after = JSON.parse((await cli(["migrate", "--dry-run", "--json"], env)).stdout);
    assertEquals(after.pending, []);
    assertEquals(after.applied, fresh.pending.map((p: { tag: string }) => p.tag));
    assertMatch((await cli(["migrate", "--dry-run"], env)).stdout, /pending: +none/);
    // Nothing was written to the embedded default.
    const local = [...Deno.readDirSync(`${dir}/data`)].map((e) => e.name);
    assert(!local.some((n) => n.startsWith("postern.db")), `no local database: ${local}`);

    gateway = spawnServer(["gateway", "--port", "0"], env);
    const { port, log, drain } = await listeningPort(gateway.stderr);
    assert(port > 0, `no server.listening line:\n${log}`);
    const drained = drain();
    const url = `http://127.0.0.1:${port}`;
    const json = { "content-type": "application/json" };

    const login = await fetch(`${url}/v1/auth/login`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ address: ADMIN, password: ADMIN_PASSWORD }),
    });
    assertEquals(login.status, 200);
    const auth = { authorization: `Bearer ${(await login.json()).accessToken}` };

    const requestsBefore = hrana.stats.requests;
    const sent = await fetch(`${url}/v1/emails`, {
      method: "POST",
      headers: { ...json, ...auth },
      body: JSON.stringify({ from: ADMIN, to: [ADMIN], subject: "Over Hrana", text: "remote" }),
    });
    assertEquals(sent.status, 201, await sent.clone().text());
    const { id } = await sent.json();
    assert(hrana.stats.requests > requestsBefore, "the send went to the remote server");

    const list = await fetch(`${url}/v1/messages?limit=10`, { headers: auth });
    assertEquals(list.status, 200);
    const items = (await list.json()).items as { id: string; subject: string }[];
    // The Sent copy and the delivered one, both on the remote database.
    assertEquals(items.filter((m) => m.subject === "Over Hrana").length, 2);
    const one = await fetch(`${url}/v1/messages/${id}`, { headers: auth });
    assertEquals(one.status, 200);
    assertEquals((await one.json()).subject, "Over Hrana");

    gateway.kill("SIGTERM");
    await gateway.status;
    await drained;
    gateway = undefined;
    assert(!log.includes(TOKEN), "the gateway never logs the auth token");
  } finally {
    if (gateway) {
      gateway.kill("SIGKILL");
      await gateway.status;
    }
    await hrana.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue16#3: a printed database URL carries neither user info nor an authToken", () => {
  assertEquals(
    redactDatabaseUrl("libsql://user:secret@db.example.org?authToken=abc&tls=1"),
    "libsql://db.example.org?authToken=%28set%29&tls=1",
  );
  assertEquals(
    redactDatabaseUrl("file:/var/lib/postern/postern.db"),
    "file:/var/lib/postern/postern.db",
  );
  assertEquals(redactDatabaseUrl("http://127.0.0.1:8081"), "http://127.0.0.1:8081/");
});

Deno.test("issue16#3: a refused auth token or an unreachable server is said plainly, before anything runs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-remote-" });
  const hrana = startHranaServer({ db: `${dir}/remote.db`, authToken: TOKEN });
  try {
    const env = { POSTERN_DATA_DIR: `${dir}/data`, POSTERN_DATABASE_URL: hrana.url };
    const wrong = await cliRun(["migrate", "--dry-run"], {
      ...env,
      POSTERN_DATABASE_AUTH_TOKEN: "not-the-token",
    });
    assertEquals(wrong.code, 1, wrong.stderr);
    assertMatch(wrong.stderr, /refused the auth token \(HTTP 401\).*POSTERN_DATABASE_AUTH_TOKEN/);
    assert(!wrong.stderr.includes("not-the-token"));
    const port = hrana.port;
    await hrana.close();
    const gone = await cliRun(["migrate", "--dry-run"], {
      ...env,
      POSTERN_DATABASE_URL: `http://127.0.0.1:${port}`,
    });
    assertEquals(gone.code, 1, gone.stderr);
    assertMatch(gone.stderr, /cannot reach the remote libSQL server/);
  } finally {
    await hrana.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

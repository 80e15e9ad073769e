/**
 * The `postern` CLI as a user runs it: a subprocess (`deno run -A main.ts …`) on a temporary
 * data folder, checked through its exit codes, its output and the files it leaves.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { COMMANDS } from "../cli/main.ts";
import { LISTENERS_OFF, listeningPort } from "./fixtures/serve_env.ts";
import { cliRun, initDataDir, messagesOf } from "./import_fixture.ts";
import { generateSelfSigned } from "../hosts/process/tls_files.ts";
import { createServer as createTlsServer } from "node:tls";
import type { Buffer } from "node:buffer";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;
const ADMIN_PASSWORD = "admin-password-for-tests";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** The parent's environment without any POSTERN_* setting, plus `env`. */
function childEnv(env: Record<string, string>): Record<string, string> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return { ...base, NO_COLOR: "1", ...LISTENERS_OFF, ...env };
}

async function cli(
  args: string[],
  env: Record<string, string> = {},
  stdin?: string,
): Promise<Result> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT.pathname,
    env: childEnv(env),
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function tempDataDir(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await Deno.makeTempDir({ prefix: "postern-cli-" });
  return { dir, env: { POSTERN_DATA_DIR: `${dir}/data`, POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD } };
}

function ok(r: Result, what: string): Result {
  assertEquals(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

Deno.test("--help works for the CLI and every command and subcommand", async () => {
  // Groups (`account`) list their subcommands; commands show their usage and options.
  const names: string[][] = [];
  const groups = new Set<string>();
  for (const c of COMMANDS) {
    names.push(c.name.split(" "));
    if ("subcommands" in c) {
      groups.add(c.name);
      for (const s of c.subcommands) names.push(s.name.split(" "));
    }
  }
  const top = ok(await cli(["--help"]), "--help");
  for (const c of COMMANDS) assert(top.stdout.includes(c.name), `top help lacks ${c.name}`);
  const results = await Promise.all(names.map((n) => cli([...n, "--help"])));
  results.forEach((r, i) => {
    const name = names[i].join(" ");
    ok(r, `${name} --help`);
    assertMatch(r.stdout, new RegExp(`Usage: postern ${name}`));
    if (!groups.has(name)) assert(r.stdout.includes("--config"), `${name} --help lacks --config`);
  });
  const bare = await cli(["account"]);
  assertEquals(bare.code, 2);
  assert(bare.stdout.includes("passwd"));
  const unknown = await cli(["frobnicate"]);
  assertEquals(unknown.code, 2);
  assertMatch(unknown.stderr, /unknown command "frobnicate"/);
  const badOption = await cli(["account", "list", "--nope"]);
  assertEquals(badOption.code, 2);
});

Deno.test("init, domains, accounts and API keys through the CLI", async () => {
  const { dir, env } = await tempDataDir();
  const init = ok(await cli(["init", "--json"], env), "init");
  const result = JSON.parse(init.stdout);
  assertEquals(result.domain, "postern.localhost");
  assertEquals(result.admin, "admin@postern.localhost");
  assertEquals(result.password, undefined, "a password from the environment is not printed");
  const key = await Deno.stat(`${dir}/data/master.key`);
  assertEquals(key.mode! & 0o777, 0o600);

  // A second init changes nothing (and succeeds); asked to, it resets the password.
  const again = await cli(["init"], env);
  assertEquals(again.code, 0);
  assertMatch(
    again.stdout,
    /already initialised, nothing changed.*\n.*\n.*\n.*--reset-admin-password/,
  );
  const generated = await cli(["init", "--reset-admin-password", "--json"], {
    POSTERN_DATA_DIR: env.POSTERN_DATA_DIR,
  });
  ok(generated, "init --reset-admin-password");
  const reset = JSON.parse(generated.stdout);
  assert(reset.password.length >= 20, "a generated password is printed once");
  assertEquals((await Deno.readTextFile(reset.passwordFile)).trim(), reset.password);
  assertEquals((await Deno.stat(reset.passwordFile)).mode! & 0o777, 0o600);

  ok(await cli(["domain", "add", "Example.ORG"], env), "domain add");
  const dup = await cli(["domain", "add", "example.org"], env);
  assertEquals(dup.code, 1);
  assertMatch(dup.stderr, /already exists/);
  assertEquals((await cli(["domain", "add", "not a domain"], env)).code, 2);
  const domains = JSON.parse(ok(await cli(["domain", "list", "--json"], env), "list").stdout);
  assertEquals(domains.map((d: { name: string }) => d.name), ["example.org", "postern.localhost"]);

  ok(
    await cli(
      ["account", "add", "bob@example.org", "--password-stdin", "--name", "Bob"],
      env,
      "bob-password-1\n",
    ),
    "account add",
  );
  const carol = ok(await cli(["account", "add", "carol@example.org", "--json"], env), "add carol");
  assert(JSON.parse(carol.stdout).password.length >= 20, "generated password shown");
  assertEquals((await cli(["account", "add", "dan@nowhere.test"], env)).code, 2);
  const short = await cli(["account", "add", "eve@example.org", "--password", "short"], env);
  assertEquals(short.code, 2);
  assertMatch(short.stderr, /at least 10 characters/);

  const listed = JSON.parse(ok(await cli(["account", "list", "--json"], env), "list").stdout);
  assertEquals(
    listed.map((a: { address: string }) => a.address),
    ["admin@postern.localhost", "bob@example.org", "carol@example.org"],
  );
  const bob = listed.find((a: { address: string }) => a.address === "bob@example.org");
  assertEquals([bob.displayName, bob.role], ["Bob", "user"]);
  assertEquals(bob.passwordHash, undefined, "no hashes in listings");
  const inDomain = JSON.parse(
    ok(await cli(["account", "list", "--domain", "postern.localhost", "--json"], env), "list")
      .stdout,
  );
  assertEquals(inDomain.length, 1);
  assertMatch(ok(await cli(["account", "list"], env), "table").stdout, /ADDRESS[\s\S]*bob@/);

  const passwd = ok(
    await cli(["account", "passwd", "bob@example.org", "--password", "bob-password-2"], env),
    "passwd",
  );
  assertMatch(passwd.stdout, /password of bob@example.org changed/);
  assertEquals((await cli(["account", "passwd", "nobody@example.org"], env)).code, 1);

  const created = JSON.parse(
    ok(
      await cli([
        "apikey",
        "create",
        "bob@example.org",
        "--name",
        "ci",
        "--scope",
        "send,read",
        "--json",
      ], env),
      "apikey create",
    ).stdout,
  );
  assertMatch(created.key, /^pst_/);
  assertEquals(created.scopes, ["send", "read"]);
  ok(await cli(["apikey", "revoke", "bob@example.org", String(created.id)], env), "revoke");
  const keys = JSON.parse(
    ok(await cli(["apikey", "list", "bob@example.org", "--json"], env), "apikey list").stdout,
  );
  assertEquals(keys.length, 1);
  assert(keys[0].revokedAt, "the key is revoked");
  assertEquals(keys[0].key, undefined, "listings never show the key");
  // issue19#5: a test key (recorded, never delivered) is told apart by its prefix and listing.
  const testKey = ok(
    await cli(["apikey", "create", "bob@example.org", "--name", "staging", "--test"], env),
    "apikey create --test",
  ).stdout;
  assertMatch(testKey, /test: +yes[\s\S]*key: +pst_test_/);
  assertMatch(
    ok(await cli(["apikey", "list", "bob@example.org"], env), "list").stdout,
    /staging .* yes/,
  );

  ok(await cli(["account", "delete", "carol@example.org"], env), "delete");
  const after = JSON.parse(ok(await cli(["account", "list", "--json"], env), "list").stdout);
  assertEquals(after.length, 2);
  assertEquals((await cli(["account", "delete", "carol@example.org"], env)).code, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue15#4: postern account role grants and takes back domain administration", async () => {
  const { dir, env } = await tempDataDir();
  ok(await cli(["init"], env), "init");
  ok(await cli(["domain", "add", "example.org"], env), "domain add");
  const added = JSON.parse(
    ok(
      await cli(["account", "add", "dora@example.org", "--admin-of", "Example.org", "--json"], env),
      "account add --admin-of",
    ).stdout,
  );
  assertEquals([added.role, added.adminDomains], ["user", ["example.org"]]);
  // Her keys may now send from, and with the admin scope manage, her domain only.
  ok(
    await cli([
      "apikey",
      "create",
      "dora@example.org",
      "--name",
      "ops",
      "--scope",
      "admin,send",
      "--domain",
      "example.org",
    ], env),
    "domain administrator's admin key",
  );
  const other = await cli(
    ["apikey", "create", "dora@example.org", "--name", "x", "--domain", "postern.localhost"],
    env,
  );
  assertEquals(other.code, 1, other.stderr);
  const both = JSON.parse(
    ok(
      await cli([
        "account",
        "role",
        "dora@example.org",
        "--admin-of",
        "example.org,postern.localhost",
        "--json",
      ], env),
      "role",
    ).stdout,
  );
  assertEquals(both.adminDomains, ["example.org", "postern.localhost"]);
  const unknown = await cli(["account", "role", "dora@example.org", "--admin-of", "no.test"], env);
  assertEquals(unknown.code, 2, "an invalid argument (issue19#5)");
  assertMatch(unknown.stderr, /no\.test is not a local domain/);
  assertMatch(
    ok(await cli(["account", "list"], env), "table").stdout,
    /ADMIN OF[\s\S]*example\.org,postern\.localhost/,
  );
  const cleared = JSON.parse(
    ok(
      await cli(["account", "role", "dora@example.org", "--clear-admin-of", "--json"], env),
      "clear",
    )
      .stdout,
  );
  assertEquals(cleared.adminDomains, []);
  const denied = await cli(
    ["apikey", "create", "dora@example.org", "--name", "y", "--scope", "admin"],
    env,
  );
  assertEquals(denied.code, 1, "a plain user again: no admin keys");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("migrate --dry-run lists pending migrations and applies nothing", async () => {
  const { dir, env } = await tempDataDir();
  const fresh = JSON.parse(
    ok(await cli(["migrate", "--dry-run", "--json"], env), "dry run").stdout,
  );
  assert(fresh.pending.length >= 1, "a fresh database has pending migrations");
  assertEquals(fresh.applied, []);
  const still = JSON.parse(ok(await cli(["migrate", "--dry-run", "--json"], env), "again").stdout);
  assertEquals(still.pending.length, fresh.pending.length, "the dry run changed nothing");
  assertMatch(ok(await cli(["migrate", "--dry-run"], env), "text").stdout, /pending: +\d/);

  ok(await cli(["init"], env), "init");
  const done = JSON.parse(ok(await cli(["migrate", "--dry-run", "--json"], env), "after").stdout);
  assertEquals(done.pending, []);
  assertEquals(done.applied, fresh.pending.map((p: { tag: string }) => p.tag));
  assertMatch(ok(await cli(["migrate"], env), "migrate").stdout, /up to date/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("send --local delivers in-process as the --from account", async () => {
  const { dir, env } = await tempDataDir();
  ok(await cli(["init"], env), "init");
  const sent = ok(
    await cli([
      "send",
      "--local",
      "--from",
      "admin@postern.localhost",
      "--to",
      "admin@postern.localhost",
      "--subject",
      "local",
      "--text",
      "hi",
    ], env),
    "send --local",
  );
  assertMatch(JSON.parse(sent.stdout).messageId, /@postern\.localhost>$/);
  const missing = await cli(["send", "--local", "--to", "admin@postern.localhost"], env);
  assertEquals(missing.code, 2);
  assertMatch(missing.stderr, /--from is required/);
  const noCreds = await cli(
    ["send", "--from", "a@b.example", "--to", "c@d.example", "--text", "x"],
    env,
  );
  assertEquals(noCreds.code, 2);
  assertMatch(noCreds.stderr, /no credentials/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an invalid configuration exits 2 and lists every problem", async () => {
  const { dir, env } = await tempDataDir();
  const bad = await cli(["account", "list"], {
    ...env,
    POSTERN_HTTP_PORT: "eighty",
    POSTERN_LOG_LEVEL: "loud",
    POSTERN_MASTER_KEY: "too-short",
  });
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /3 problems/);
  for (const name of ["POSTERN_HTTP_PORT", "POSTERN_LOG_LEVEL", "POSTERN_MASTER_KEY"]) {
    assert(bad.stderr.includes(name), `${name} missing from: ${bad.stderr}`);
  }
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ httpPort: 1, colour: "red" }));
  const file = await cli(["config", "check", "--config", `${dir}/config.json`], env);
  assertEquals(file.code, 2);
  assertMatch(file.stderr, /unknown setting\(s\) colour/);
  await Deno.writeTextFile(`${dir}/ok.json`, JSON.stringify({ httpPort: 9999 }));
  const good = ok(
    await cli(["config", "check", "--json"], { ...env, POSTERN_CONFIG: `${dir}/ok.json` }),
    "ok",
  );
  assertEquals(JSON.parse(good.stdout).httpPort, 9999);
  const example = ok(await cli(["config", "example"]), "config example");
  assertEquals(example.stdout, await Deno.readTextFile(new URL("deploy/env.example", ROOT)));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("serve --init-if-needed answers /health and stops on SIGTERM", async () => {
  const { dir, env } = await tempDataDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "serve", "--init-if-needed", "--port", "0"],
    cwd: ROOT.pathname,
    env: childEnv(env),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout = new Response(child.stdout).text();
  const started = await listeningPort(child.stderr);
  const port = started.port;
  try {
    assert(port > 0, `no server.listening log line:\n${started.log}`);
    const health = await fetch(`http://127.0.0.1:${port}/health`, {
      headers: { "x-postern-peer": "203.0.113.66" },
    });
    assertEquals(health.status, 200);
    assertEquals((await health.json()).status, "ok");
    const login = await fetch(`http://127.0.0.1:${port}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address: "admin@postern.localhost", password: ADMIN_PASSWORD }),
    });
    assertEquals(login.status, 200, "the admin made by --init-if-needed can sign in");
    await login.body?.cancel();

    // `send` over HTTP with an API key made by the CLI while the server runs.
    const made = ok(
      await cli(["apikey", "create", "admin@postern.localhost", "--name", "t", "--json"], env),
      "apikey create",
    );
    const sent = await cli([
      "send",
      "--url",
      `http://127.0.0.1:${port}`,
      "--api-key",
      JSON.parse(made.stdout).key,
      "--from",
      "admin@postern.localhost",
      "--to",
      "admin@postern.localhost",
      "--subject",
      "over HTTP",
      "--text",
      "hello",
    ], env);
    ok(sent, "send --url");
    assertMatch(JSON.parse(sent.stdout).messageId, /@/);
    const refused = await cli([
      "send",
      "--url",
      `http://127.0.0.1:${port}`,
      "--api-key",
      "pst_not-a-key",
      "--from",
      "admin@postern.localhost",
      "--to",
      "admin@postern.localhost",
      "--text",
      "x",
    ], env);
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /401/);
  } finally {
    child.kill("SIGTERM");
  }
  const status = await child.status;
  const lines = [...started.log.split("\n"), ...await started.rest()];
  assertEquals(status.code, 0, lines.join("\n"));
  const events = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  assert(events.some((e) => e.event === "server.stopped"), "graceful stop is logged");
  const request = events.find((e) => e.event === "http.request" && e.path === "/health");
  assertEquals(request?.ip, "127.0.0.1", "a client cannot choose its peer address");
  const banner = await stdout;
  assertMatch(banner, new RegExp(`http://127\\.0\\.0\\.1:${port}/docs`));
  // A newcomer learns where the webmail and the admin console are (issue 18, "done means").
  assertMatch(banner, new RegExp(`Mail: +http://127\\.0\\.0\\.1:${port}/mail `));
  assertMatch(banner, new RegExp(`http://127\\.0\\.0\\.1:${port}/admin\\)`));
  assertMatch(banner, /admin@postern\.localhost/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("serve on a port another server holds says so and how to choose others, not a stack trace", async () => {
  const { dir, env } = await tempDataDir();
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String(busy.addr.port);
    for (
      const [args, extra] of [
        [["--port", port], {}],
        [["--port", "0"], { POSTERN_SMTP_PORT: port }],
      ] as const
    ) {
      const r = await cli(["serve", "--init-if-needed", ...args], { ...env, ...extra });
      assertEquals(r.code, 1, r.stderr);
      assertMatch(r.stderr, /postern: cannot listen: .*(in use|EADDRINUSE)/i);
      assertMatch(r.stderr, /POSTERN_HTTP_PORT, POSTERN_SMTP_PORT/);
      assert(!r.stderr.includes("unexpected error"), r.stderr);
    }
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** An HTTP server that is not Postern: every request gets `status` and a plain-text page. */
function foreignServer(status: number) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("nope\n", { status, headers: { server: "other-httpd/1.0" } }),
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, port: server.addr.port, server };
}

const SEND = ["send", "--from", "a@postern.localhost", "--to", "b@example.test", "--text", "x"];

Deno.test("issue19#1: send names the URL it talks to and, on 401/404, who answered", async () => {
  const { dir, env } = await tempDataDir();
  const foreign401 = foreignServer(401);
  const foreign404 = foreignServer(404);
  try {
    const byFlag = await cli([...SEND, "--url", foreign401.url, "--api-key", "pst_x"], env);
    assertEquals(byFlag.code, 1, byFlag.stderr);
    assert(byFlag.stderr.includes(foreign401.url), `URL not named:\n${byFlag.stderr}`);
    assertMatch(byFlag.stderr, /answered 401/);
    assertMatch(byFlag.stderr, /not a Postern server/);
    assertMatch(byFlag.stderr, /other-httpd\/1\.0/);
    assertMatch(byFlag.stderr, /--url/);

    // The URL from the configuration (POSTERN_HTTP_HOST/PORT) is named with where it came from.
    const byConfig = await cli([...SEND, "--api-key", "pst_x"], {
      ...env,
      POSTERN_HTTP_PORT: String(foreign404.port),
    });
    assertEquals(byConfig.code, 1, byConfig.stderr);
    assert(byConfig.stderr.includes(foreign404.url), `URL not named:\n${byConfig.stderr}`);
    assertMatch(byConfig.stderr, /answered 404/);
    assertMatch(byConfig.stderr, /POSTERN_HTTP_PORT/);
    assertMatch(byConfig.stderr, /--url URL or \$POSTERN_URL/);

    const byEnv = await cli([...SEND, "--api-key", "pst_x"], {
      ...env,
      POSTERN_URL: foreign401.url + "/",
    });
    assertMatch(byEnv.stderr, /\$POSTERN_URL/);
    assert(byEnv.stderr.includes(foreign401.url), byEnv.stderr);
  } finally {
    await foreign401.server.shutdown();
    await foreign404.server.shutdown();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue19#2: an unknown POSTERN_* variable is warned about, with the closest name", async () => {
  const { dir, env } = await tempDataDir();
  const typo = { ...env, POSTERN_SMTP_PROT: "2526", POSTERN_FROBNICATE: "1" };
  const listed = await cli(["domain", "list"], typo);
  assertEquals(listed.code, 0, listed.stderr);
  assertMatch(listed.stderr, /POSTERN_SMTP_PROT.*did you mean POSTERN_SMTP_PORT/);
  assertMatch(listed.stderr, /POSTERN_FROBNICATE/);
  const check = await cli(["config", "check"], typo);
  assertEquals(check.code, 0, "a warning, not an error: other tools may use the prefix");
  assertMatch(check.stdout, /warning.*POSTERN_SMTP_PROT.*POSTERN_SMTP_PORT/);
  assertMatch(check.stdout, /configuration ok \(2 warnings\)/);
  // Variables the CLI itself reads are known.
  const quiet = await cli(["domain", "list"], { ...env, POSTERN_URL: "http://x.test" });
  assert(!quiet.stderr.includes("unknown"), quiet.stderr);
  assertMatch(
    ok(await cli(["config", "check", "--help"]), "help").stdout,
    /Unknown POSTERN_.*warnings/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue19#3: config errors name the variable, the value (secrets hidden) and what is expected", async () => {
  const { dir, env } = await tempDataDir();
  const bad = await cli(["config", "check"], {
    ...env,
    POSTERN_SMTP_PORT: "abc",
    POSTERN_HTTP_PORT: "70000",
    POSTERN_TRUST_PROXY: "maybe",
    POSTERN_LOG_LEVEL: "loud",
    POSTERN_MASTER_KEY: "too-short-secret",
  });
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /5 problems/);
  assertMatch(bad.stderr, /POSTERN_SMTP_PORT=abc: expected a whole number from 0 to 65535/);
  assertMatch(bad.stderr, /POSTERN_HTTP_PORT=70000: expected a whole number from 0 to 65535/);
  assertMatch(bad.stderr, /POSTERN_LOG_LEVEL=loud: expected one of .*info/);
  assertMatch(bad.stderr, /POSTERN_TRUST_PROXY=maybe: expected true, false, 1 or 0/);
  assertMatch(bad.stderr, /POSTERN_MASTER_KEY=\(secret, 16 characters\): .*at least 32/);
  assert(!bad.stderr.includes("too-short-secret"), "the secret is not printed");
  assert(!/NaN|received/.test(bad.stderr), `zod's wording leaked:\n${bad.stderr}`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue19#4: init is idempotent; a real conflict exits 3 and writes nothing", async () => {
  const { dir, env } = await tempDataDir();
  ok(await cli(["init"], env), "init");
  const files = async () => {
    const out: string[] = [];
    for await (const e of Deno.readDir(`${dir}/data`)) {
      // SQLite's shared-memory index changes whenever anyone reads the database.
      if (e.name.endsWith("-shm")) continue;
      const s = await Deno.stat(`${dir}/data/${e.name}`);
      out.push(`${e.name} ${s.size} ${s.mtime?.getTime()}`);
    }
    return out.sort();
  };
  const before = await files();
  const again = await cli(["init"], env);
  assertEquals(again.code, 0, again.stderr);
  assertMatch(again.stdout, /already initialised, nothing changed/);
  assertEquals(await files(), before, "nothing written");
  assertEquals(JSON.parse(ok(await cli(["init", "--json"], env), "json").stdout).unchanged, true);

  const otherKey = await cli(["init"], { ...env, POSTERN_MASTER_KEY: "k".repeat(40) });
  assertEquals(otherKey.code, 3, otherKey.stderr);
  assertMatch(otherKey.stderr, /master key does not open/);
  const otherAdmin = await cli(["init", "--admin", "root@postern.localhost"], env);
  assertEquals(otherAdmin.code, 3, otherAdmin.stderr);
  assertEquals(await files(), before, "a conflict writes nothing");
  assertMatch(ok(await cli(["init", "--help"]), "help").stdout, /exits 3/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue19#5: invalid arguments exit 2 across the CLI", async () => {
  const { dir, env } = await tempDataDir();
  ok(await cli(["init"], env), "init");
  const bad = await cli(["account", "add", "bad-address"], env);
  assertEquals(bad.code, 2, bad.stderr);
  assertMatch(bad.stderr, /invalid address/);
  const short = await cli(["account", "passwd", "admin@postern.localhost", "--password", "x"], env);
  assertEquals(short.code, 2, short.stderr);
  const scope = await cli([
    "apikey",
    "create",
    "admin@postern.localhost",
    "--name",
    "k",
    "--scope",
    "root",
  ], env);
  assertEquals(scope.code, 2, scope.stderr);
  await Deno.mkdir(`${dir}/mboxes`);
  const folder = await cli(
    ["import", "mbox", `${dir}/mboxes`, "--account", "admin@postern.localhost", "--mailbox", "X"],
    env,
  );
  assertEquals(folder.code, 2, folder.stderr);
  // Failures that are not the caller's input stay 1.
  assertEquals((await cli(["account", "delete", "nobody@postern.localhost"], env)).code, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("issue19#6: import --mailbox chooses the target, INBOX in any case", async () => {
  const data = await initDataDir();
  const admin = "admin@postern.localhost";
  try {
    await Deno.writeTextFile(
      `${data.dir}/list.mbox`,
      "From alice@legacy.test Mon Jan  1 10:00:00 2024\nSubject: one\n\nbody\n",
    );
    const r = await cliRun(
      ["import", "mbox", `${data.dir}/list.mbox`, "--account", admin, "--mailbox", "inbox"],
      data.env,
    );
    assertEquals(r.code, 0, r.stderr);
    const maildir = `${data.dir}/md`;
    for (const d of ["cur", "new", "tmp"]) await Deno.mkdir(`${maildir}/${d}`, { recursive: true });
    await Deno.writeTextFile(`${maildir}/new/1700000000.M1P1.legacy`, "Subject: two\n\nbody\n");
    const m = await cliRun(
      ["import", "maildir", maildir, "--account", admin, "--mailbox", "Archive/2020"],
      data.env,
    );
    assertEquals(m.code, 0, m.stderr);
    const stored = await messagesOf(data.dbUrl, admin);
    assertEquals(stored.map((s) => s.mailbox).sort(), ["Archive/2020", "INBOX"]);
    const bad = await cliRun(
      ["import", "maildir", maildir, "--account", admin, "--mailbox", "a//b"],
      data.env,
    );
    assertEquals(bad.code, 2, bad.stderr);
    assertMatch(
      (await cliRun(["import", "--help"], data.env)).stdout,
      /INBOX, in any case, is the account's INBOX/,
    );
  } finally {
    await data.remove();
  }
});

/**
 * An IMAPS server with a self-signed certificate that refuses every sign-in: enough to tell
 * "the TLS handshake failed" from "TLS worked and the password was checked".
 */
async function selfSignedImaps(dir: string) {
  await generateSelfSigned(`${dir}/cert.pem`, `${dir}/key.pem`, ["127.0.0.1"]);
  const server = createTlsServer({
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    key: await Deno.readTextFile(`${dir}/key.pem`),
  }, (socket) => {
    socket.on("error", () => {});
    socket.write("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] test ready\r\n");
    let buffer = "";
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      let i;
      while ((i = buffer.indexOf("\r\n")) >= 0) {
        const [tag, command = ""] = buffer.slice(0, i).split(" ");
        buffer = buffer.slice(i + 2);
        const verb = command.toUpperCase();
        if (verb === "CAPABILITY") socket.write("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n");
        if (verb === "LOGIN" || verb === "AUTHENTICATE") {
          socket.write(`${tag} NO [AUTHENTICATIONFAILED] test server refuses everyone\r\n`);
        } else if (verb === "LOGOUT") {
          socket.end(`* BYE\r\n${tag} OK bye\r\n`);
        } else socket.write(`${tag} OK done\r\n`);
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, port: (server.address() as { port: number }).port };
}

Deno.test("issue19#7: IMAP import trusts a self-signed source with --ca-file, or --insecure-skip-verify loudly", async () => {
  const data = await initDataDir();
  const { server, port } = await selfSignedImaps(data.dir);
  const env = { ...data.env, POSTERN_IMPORT_PASSWORD: "pw" };
  const url = `imaps://alice@127.0.0.1:${port}`;
  const args = ["import", url, "--account", "admin@postern.localhost", "--dry-run"];
  try {
    const untrusted = await cliRun(args, env);
    assertEquals(untrusted.code, 1, untrusted.stderr);
    assertMatch(untrusted.stderr, /self[- ]signed|certificate/i);
    const trusted = await cliRun([...args, "--ca-file", `${data.dir}/cert.pem`], env);
    assertEquals(trusted.code, 1, trusted.stderr);
    // TLS worked; the sign-in was refused.
    assertMatch(trusted.stderr, /authentication failed/);
    const skipped = await cliRun([...args, "--insecure-skip-verify"], env);
    assertMatch(skipped.stderr, /WARNING: --insecure-skip-verify/);
    assertMatch(skipped.stderr, /authentication failed/);
    const noPem = await cliRun([...args, "--ca-file", `${data.dir}/nothing.pem`], env);
    assertEquals(noPem.code, 2, noPem.stderr);
    const both = await cliRun([...args, "--insecure", "--ca-file", `${data.dir}/cert.pem`], env);
    assertEquals(both.code, 2, both.stderr);
  } finally {
    server.close();
    await data.remove();
  }
});

/**
 * `postern deploy` (issue 17 item 4), through the real CLI where it writes or refuses, and every
 * generated file checked by the tool that will read it: wrangler's own config reader for
 * wrangler.toml, `wrangler d1 migrations apply --local` (workerd's D1, offline) for the
 * migrations — after which Postern's own migration step finds nothing to do —,
 * `systemd-analyze verify` for the unit, a YAML parser and the repository for the Dockerfile and
 * compose file. `--dry-run` writes nothing and says everything; a second run changes nothing.
 */
import { createClient } from "@libsql/client";
import { cloudflarePlan, WORKER } from "../cli/deploy/cloudflare.ts";
import { SERVE_V8_FLAGS } from "../cli/deploy/serve_flags.ts";
import { parseConfig } from "../src/config.ts";
import { BOOKKEEPING, hashOf, planMigrations } from "../src/store/migrate.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { cliRun } from "./import_fixture.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** What the test reads of the compose file. */
interface Compose {
  services: {
    postern: {
      build: { context: string; dockerfile: string };
      ports: string[];
      environment: Record<string, string>;
    };
  };
}

/** The compose file as data, read with Debian's python3-yaml (as the SPF and ARC suites are). */
async function parseCompose(text: string): Promise<Compose> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", "import sys, json, yaml\njson.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  const said = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`compose.yaml is not YAML (or python3-yaml is missing): ${said}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * wrangler's config reader, loaded at run time: a static import would bring its type
 * declarations (@cloudflare/workers-types' globals) into every file type-checked with this one.
 */
async function wranglerApi(): Promise<{ unstable_readConfig(o: { config: string }): unknown }> {
  const name = "wrangler";
  return await import(name);
}

const WRANGLER = `${ROOT}/node_modules/wrangler/bin/wrangler.js`;

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(`${dir}/${rel}`)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(path);
      else out.push(path);
    }
  };
  await walk("");
  return out.sort();
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "postern-deploy-" });
}

async function cloudflareFiles(dir: string, extra: { r2Bucket?: string; url?: string } = {}) {
  const parsed = parseConfig({});
  if (!parsed.ok) throw new Error(parsed.problems.join("; "));
  const plan = cloudflarePlan({
    name: "postern",
    domain: "example.org",
    adminAddress: "admin@example.org",
    dohUrl: "https://cloudflare-dns.com/dns-query",
    d1Id: "11111111-2222-3333-4444-555555555555",
    root: ".",
    migrations: MIGRATIONS,
    hashes: await Promise.all(MIGRATIONS.map(hashOf)),
    config: parsed.config,
    ...extra,
  }, BOOKKEEPING);
  for (const f of plan.files) {
    await Deno.mkdir(`${dir}/${f.path}`.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(`${dir}/${f.path}`, f.content);
  }
  return plan;
}

Deno.test("issue17#4: deploy cloudflare --dry-run writes nothing and prints the files, secrets, Email Routing steps and DNS records", async () => {
  const dir = await tempDir();
  try {
    const r = await cliRun([
      "deploy",
      "cloudflare",
      "--dry-run",
      "--out",
      dir,
      "--domain",
      "example.org",
      "--url",
      "https://mail.example.org",
    ], {});
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await files(dir), [], "a dry run writes nothing");
    for (
      const text of [
        "dry run: nothing written, nothing run",
        "wrangler.toml",
        `migrations/${MIGRATIONS[0].tag}.sql`,
        `migrations/${MIGRATIONS.at(-1)!.tag}.sql`,
        "secret put POSTERN_MASTER_KEY",
        "secret put POSTERN_ADMIN_PASSWORD",
        "Email Routing",
        'Catch-all address → action "Send to a Worker" → postern',
        "wrangler.js d1 create postern",
        "wrangler.js r2 bucket create postern-blobs",
        '_sharp.example.org.\t3600\tIN\tTXT\t"v=sharp1; host=mail.example.org"',
        "_dmarc.example.org.",
        "GET https://mail.example.org/v1/domains/example.org",
        "deno task worker:build",
        "d1 migrations apply DB --remote",
      ]
    ) assert(r.stdout.includes(text), `the plan names ${text}:\n${r.stdout}`);

    // Without R2 (--no-r2), bodies stay in D1: no bucket in the file or the steps.
    const noR2 = await cliRun(
      ["deploy", "cloudflare", "--dry-run", "--no-r2", "--out", dir, "--domain", "example.org"],
      {},
    );
    assertEquals(noR2.code, 0, noR2.stderr);
    assert(!/r2_buckets|r2 bucket create/.test(noR2.stdout), noR2.stdout);

    // A real run needs the D1 id, and says how to get it before writing or running anything.
    const refused = await cliRun(
      ["deploy", "cloudflare", "--out", dir, "--domain", "example.org"],
      {},
    );
    assertEquals(refused.code, 2, refused.stdout + refused.stderr);
    assertMatch(refused.stderr, /--d1-id ID is needed.*wrangler d1 create postern/s);
    assertEquals(await files(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue17#4: wrangler reads the generated wrangler.toml with the Worker contract's names", async () => {
  const dir = await tempDir();
  try {
    await cloudflareFiles(dir, { r2Bucket: "postern-bodies", url: "https://mail.example.org" });
    // wrangler throws on an invalid field and warns (on the console) about an unknown one.
    const warnings: string[] = [];
    const saved = { warn: console.warn, log: console.log, error: console.error };
    console.warn = console.log = console.error = (...a: unknown[]) =>
      void warnings.push(a.join(" "));
    let read: unknown;
    try {
      read = (await wranglerApi()).unstable_readConfig({ config: `${dir}/wrangler.toml` });
    } finally {
      Object.assign(console, saved);
    }
    assertEquals(warnings.filter((w) => /WARNING|Unexpected/.test(w)), [], "no warnings");
    // The fields read here, as wrangler's reader returns them (its own types are loose).
    const config = read as {
      name: string;
      main: string;
      compatibility_date: string;
      compatibility_flags: string[];
      d1_databases: { binding: string; migrations_dir: string }[];
      r2_buckets: { binding: string; bucket_name: string }[];
      assets?: { binding: string };
      triggers: { crons: string[] };
      vars: Record<string, string>;
      routes?: unknown[];
    };
    assertEquals(config.name, "postern");
    assertEquals(config.main, `${dir}/${WORKER.bundle}`);
    assertEquals(config.compatibility_date, "2026-11-17");
    assert(!config.compatibility_flags?.includes("nodejs_compat"), "Web APIs only");
    assertEquals(config.d1_databases.map((d) => [d.binding, d.migrations_dir]), [[
      "DB",
      "migrations",
    ]]);
    assertEquals(config.r2_buckets.map((b) => [b.binding, b.bucket_name]), [[
      "BLOBS",
      "postern-bodies",
    ]]);
    assertEquals(config.assets?.binding, "ASSETS");
    assertEquals(config.triggers.crons, ["*/1 * * * *"]);
    assertEquals({ ...config.vars }, {
      POSTERN_DOMAIN: "example.org",
      POSTERN_ADMIN_ADDRESS: "admin@example.org",
      POSTERN_DNS_DOH_URL: "https://cloudflare-dns.com/dns-query",
    });
    const text = await Deno.readTextFile(`${dir}/wrangler.toml`);
    assert(!/MASTER_KEY\s*=|ADMIN_PASSWORD\s*=/.test(text), "no secret in the file");
    assertEquals(
      config.routes?.map((r) => JSON.stringify({ ...r as object })),
      [JSON.stringify({ pattern: "mail.example.org", custom_domain: true })],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue17#4: the D1 migrations apply in order with wrangler on local D1, and Postern then finds every one applied", async () => {
  const dir = await tempDir();
  try {
    const plan = await cloudflareFiles(dir);
    const sql = plan.files.filter((f) => f.path.startsWith("migrations/")).map((f) => f.path);
    assertEquals(sql, MIGRATIONS.map((m) => `migrations/${m.tag}.sql`), "one file each, in order");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WRANGLER, "d1", "migrations", "apply", "DB", "--local"],
      cwd: dir,
      env: { WRANGLER_SEND_METRICS: "false", CI: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, log);
    for (const m of MIGRATIONS) assertMatch(log, new RegExp(`${m.tag}\\.sql\\s*│\\s*✅`));
    // The database wrangler made (workerd's D1 is SQLite underneath): Postern's migration step
    // would run nothing, because each file recorded itself with the same hash.
    const d1Dir = `${dir}/.wrangler/state/v3/d1/miniflare-D1DatabaseObject`;
    const db = (await files(d1Dir)).find((f) => /^[0-9a-f]{64}\.sqlite$/.test(f));
    assert(db, "wrangler's local D1 database");
    const client = createClient({ url: `file:${d1Dir}/${db}` });
    try {
      const state = await planMigrations(client, MIGRATIONS);
      assertEquals(state.pending, []);
      assertEquals(state.applied, MIGRATIONS.map((m) => m.tag));
      const fts = await client.execute(
        "SELECT name FROM sqlite_master WHERE name = 'messages_fts'",
      );
      assertEquals(fts.rows.length, 1, "the custom FTS5 migration ran on D1");
    } finally {
      client.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue17#4: deploy systemd writes a hardened unit that systemd-analyze verifies, and an env file; a re-run changes nothing", async () => {
  const dir = await tempDir();
  try {
    const args = [
      "deploy",
      "systemd",
      "--out",
      dir,
      "--domain",
      "example.org",
      "--deno",
      Deno.execPath(),
    ];
    const dry = await cliRun([...args, "--dry-run"], {});
    assertEquals(dry.code, 0, dry.stderr);
    assertEquals(await files(dir), []);
    assertMatch(dry.stdout, /postern\.service[\s\S]*postern\.env \(mode 600\)/);

    const first = await cliRun(args, {});
    assertEquals(first.code, 0, first.stderr);
    assertEquals(await files(dir), ["postern.env", "postern.service"]);
    assertMatch(first.stdout, /postern\.service — written/);
    assertEquals((await Deno.stat(`${dir}/postern.env`)).mode! & 0o777, 0o600);
    const unit = await Deno.readTextFile(`${dir}/postern.service`);
    for (
      const line of [
        "User=postern",
        "StateDirectory=postern",
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "Restart=on-failure",
        "LimitNOFILE=65536",
        `ExecStartPre=${Deno.execPath()} run -A main.ts init --domain example.org --admin admin@example.org`,
        `ExecStart=${Deno.execPath()} run -A --node-modules-dir=manual ` +
        `${SERVE_V8_FLAGS} .build/serve/main.js serve`,
      ]
    ) assert(unit.split("\n").includes(line), `unit has ${line}`);
    // The unit starts serve as `deno task start` does: the same V8 flags.
    const start = JSON.parse(await Deno.readTextFile("deno.json")).tasks.start as string;
    assert(start.includes(` ${SERVE_V8_FLAGS} `), `deno.json's start task has ${SERVE_V8_FLAGS}`);
    const env = await Deno.readTextFile(`${dir}/postern.env`);
    for (
      const port of [
        "SMTP_PORT=25",
        "SUBMISSION_PORT=587",
        "SUBMISSIONS_PORT=465",
        "IMAPS_PORT=993",
        "POP3S_PORT=995",
      ]
    ) {
      assert(env.includes(`\nPOSTERN_${port}\n`), port);
    }
    assert(env.includes("\nPOSTERN_DATA_DIR=/var/lib/postern\n"));
    assert(env.includes("# POSTERN_DNS_DOH_URL="), "every other setting, commented out");
    // Every set line names a real setting (the CLI's own check of the same file).
    const check = await cliRun(
      ["config", "check"],
      Object.fromEntries(
        env.split("\n").filter((l) => /^POSTERN_\w+=/.test(l)).map((l) =>
          l.split(/=(.*)/s).slice(0, 2)
        ),
      ),
    );
    assertEquals(check.code, 0, check.stdout + check.stderr);

    if (await Deno.stat("/usr/bin/systemd-analyze").then(() => true, () => false)) {
      const verify = await new Deno.Command("systemd-analyze", {
        args: ["verify", `${dir}/postern.service`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(verify.stderr);
      assertEquals(verify.code, 0, said);
      assert(!/Unknown|Failed to parse|ignoring/i.test(said), said);
    } else {
      console.log("systemd-analyze not installed: the unit's syntax was not verified");
    }

    const again = await cliRun(args, {});
    assertEquals(again.code, 0, again.stderr);
    assertMatch(again.stdout, /postern\.service — unchanged[\s\S]*postern\.env — unchanged/);
    assertEquals(await Deno.readTextFile(`${dir}/postern.service`), unit);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue17#4: deploy docker writes a Dockerfile whose every COPY source exists, a compose file that parses, and runs as non-root with a health check", async () => {
  const dir = await tempDir();
  try {
    const args = ["deploy", "docker", "--out", dir, "--domain", "example.org"];
    const r = await cliRun(args, {});
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await files(dir), ["Dockerfile", "Dockerfile.dockerignore", "compose.yaml"]);
    const dockerfile = await Deno.readTextFile(`${dir}/Dockerfile`);
    const copies = [...dockerfile.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].split(" "));
    assert(copies.includes("deno.lock") && copies.includes("src"), copies.join(" "));
    for (const source of copies) {
      assert(await Deno.stat(`${ROOT}/${source}`).then(() => true, () => false), `COPY ${source}`);
    }
    assertMatch(dockerfile, /^FROM debian:12-slim$/m);
    assertMatch(dockerfile, /^USER postern$/m);
    // serve runs the bundle the image builds, as `deno task start` does.
    assertMatch(dockerfile, /^RUN .*deno run -A scripts\/build_serve\.ts/m);
    assertMatch(dockerfile, /^CMD \[.*"\.build\/serve\/main\.js", "serve"/m);
    assertMatch(dockerfile, /^HEALTHCHECK .*\n.*\/health/m);
    assertMatch(dockerfile, /^VOLUME \["\/var\/lib\/postern"\]$/m);
    const exposed = dockerfile.match(/^EXPOSE (.+)$/m)![1].split(" ").map(Number);

    const compose = await parseCompose(await Deno.readTextFile(`${dir}/compose.yaml`));
    const service = compose.services.postern;
    const inside = service.ports.map((p) => Number(p.split(":")[1]));
    assertEquals(inside.sort(), exposed.sort(), "compose publishes what the image exposes");
    assert(service.ports.includes("25:2525"), "SMTP on 25 outside");
    // The build context is the repository and the Dockerfile is found from it.
    const context = `${dir}/${service.build.context}`;
    assertEquals(await Deno.realPath(context), await Deno.realPath(ROOT));
    assert(await Deno.stat(`${context}/${service.build.dockerfile}`).then(() => true, () => false));
    assertEquals(service.environment.POSTERN_DOMAIN, "example.org");
    assert(!JSON.stringify(compose).includes('MASTER_KEY":'), "no secret in compose");

    const again = await cliRun(args, {});
    assertEquals(again.code, 0);
    assertMatch(again.stdout, /Dockerfile — unchanged/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue17#4: deploy deno --dry-run names the entry, its environment and the deploy command; bad targets exit 2 with usage", async () => {
  const r = await cliRun([
    "deploy",
    "deno",
    "--dry-run",
    "--domain",
    "example.org",
    "--org",
    "acme",
  ], {});
  assertEquals(r.code, 0, r.stderr);
  for (
    const text of [
      "hosts/deno_deploy/main.ts",
      "POSTERN_DATABASE_URL",
      "POSTERN_MASTER_KEY",
      "POSTERN_DATABASE_AUTH_TOKEN",
      "POSTERN_ADMIN_PASSWORD",
      "POSTERN_DOMAIN=example.org",
      "deno deploy --org acme --app postern --prod",
      '_sharp.example.org.\t3600\tIN\tTXT\t"v=sharp1; host=postern.acme.deno.net"',
    ]
  ) assert(r.stdout.includes(text), `names ${text}:\n${r.stdout}`);

  const bad = await cliRun(["deploy", "heroku", "--domain", "example.org"], {});
  assertEquals(bad.code, 2);
  assertMatch(
    bad.stderr,
    /unknown deploy target "heroku".*\n.*Usage: postern deploy <cloudflare\|deno\|systemd\|docker>/,
  );
  const none = await cliRun(["deploy"], {});
  assertEquals(none.code, 2);
  const noDomain = await cliRun(["deploy", "systemd", "--dry-run"], {});
  assertEquals(noDomain.code, 2);
  assertMatch(noDomain.stderr, /--domain DOMAIN \(or POSTERN_DOMAIN\) is required/);
  const help = await cliRun(["deploy", "--help"], {});
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /Usage: postern deploy <cloudflare\|deno\|systemd\|docker>/);
});

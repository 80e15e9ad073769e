/**
 * Backup and restore (issue 21, item 5) through the shipped processes: a `postern serve` filled
 * over HTTP and SMTP is backed up by `postern backup` while SMTP keeps delivering, restored by
 * `postern restore` into a second data folder, and a second server on it must hold every message
 * byte for byte with its flags, every credential and key working, every setting; the gateway
 * endpoint and the remote-libSQL engine the same way; damaged backups refused by part.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { freePort } from "./fixtures/postfix.ts";
import { LineClient } from "./fixtures/line_client.ts";
import { runCli } from "./fixtures/cli_run.ts";
import { adminToken, SERVE_ADMIN, serveChild, waitFor } from "./fixtures/serve_env.ts";
import { startHranaServer } from "./fixtures/hrana_server.ts";
import { multipartWithAttachment } from "./fixtures/large_mail.ts";
import { createClient } from "@libsql/client";
import { currentTotp } from "../src/auth/totp.ts";
import { SecretBox } from "../src/crypto.ts";
import { dumpBackup } from "../src/backup/dump.ts";
import { applyBackup, verifyBackup } from "../src/backup/restore.ts";
import { libsqlSnapshot } from "../src/backup/snapshot.ts";
import { readTar } from "../src/backup/tar.ts";
import { migrate } from "../src/store/migrate.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import {
  jsonPost,
  startWorkerGateway,
  WORKER_ADMIN,
  WORKER_MASTER_KEY,
} from "./fixtures/worker_gateway.ts";

const DOMAIN = "postern.localhost";
const ALICE = { address: `alice@${DOMAIN}`, password: "alice-password-for-backups" };

/** A running `postern serve` on `dataDir` with HTTP (and SMTP when asked). */
async function server(dataDir: string, vars: Record<string, string> = {}) {
  const http = freePort();
  const smtp = freePort();
  const child = serveChild(dataDir, {
    POSTERN_HTTP_PORT: String(http),
    POSTERN_SMTP_PORT: String(smtp),
    POSTERN_WEBHOOK_ALLOW_PRIVATE: "true",
    ...vars,
  }, { stderr: "piped" });
  // The child's warnings and errors, kept (last 8 KiB) to explain a server that died or never
  // came up; read continuously so the pipe never blocks the child.
  let log = "";
  const logDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (log = (log + chunk).slice(-8192)) }),
  ).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) child.kill("SIGTERM");
    await status;
    await logDone;
  };
  const base = `http://127.0.0.1:${http}`;
  let admin = "";
  try {
    await waitFor(
      async () => exited || (await fetch(`${base}/health`)).ok,
      `the server on ${dataDir}`,
    );
    if (exited) throw new Error("the server exited");
    admin = await adminToken(http);
  } catch (e) {
    await stop();
    throw new Error(`the server on ${dataDir} did not come up: ${e}\n${log}`);
  }
  const call = async (method: string, path: string, token?: string, body?: unknown) =>
    await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const json = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await call(method, path, token, body);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    base,
    http,
    smtp,
    call,
    json,
    admin,
    /**
     * Stops the server once (later calls wait for the same exit). A server that died on its own
     * has its log printed, without throwing: in a `finally` that would hide the test's own error.
     */
    stop: async () => {
      const died = exited && !stopped;
      await stop();
      if (died) console.error(`the server on ${dataDir} died during the test:\n${log}`);
    },
  };
}
type Server = Awaited<ReturnType<typeof server>>;

/** One message over SMTP to the MX (the server answers 250 only after its commit). */
async function smtpDeliver(port: number, to: string, raw: string | Uint8Array): Promise<void> {
  const c = await LineClient.open(port);
  try {
    await c.until("220 ");
    await c.write("EHLO backup.test\r\n");
    await c.until("250 ");
    await c.write("MAIL FROM:<sender@remote.test>\r\n");
    await c.until("250 ");
    await c.write(`RCPT TO:<${to}>\r\n`);
    await c.until("250 ");
    await c.write("DATA\r\n");
    await c.until("354 ");
    const bytes = typeof raw === "string" ? new TextEncoder().encode(raw) : raw;
    await c.write(bytes);
    await c.write(".\r\n");
    await c.until("250 ");
    await c.write("QUIT\r\n");
  } finally {
    c.conn.close();
  }
}

const mail = (n: number, to: string) =>
  `From: Sender <sender@remote.test>\r\nTo: <${to}>\r\nSubject: Message ${n}\r\n` +
  `Message-ID: <m${n}.${crypto.randomUUID()}@remote.test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n` +
  `\r\nBody of message ${n}.\r\nA second line.\r\n`;

interface Held {
  mailbox: string;
  flags: unknown;
  keywords: string[];
  raw: string;
}

/** Every message of an account: mailbox name, flags, keywords and raw bytes (as hex digest). */
async function messagesOf(
  s: Pick<Server, "call" | "json">,
  token: string,
): Promise<Map<string, Held>> {
  const out = new Map<string, Held>();
  const boxes = (await s.json("GET", "/v1/mailboxes", token)).items as {
    id: number;
    name: string;
  }[];
  for (const box of boxes) {
    let cursor: string | null = null;
    do {
      const page: {
        items: { id: number; flags: unknown; keywords: string[] }[];
        nextCursor: string | null;
      } = await s.json(
        "GET",
        `/v1/messages?mailboxId=${box.id}&limit=100${cursor ? `&cursor=${cursor}` : ""}`,
        token,
      );
      for (const m of page.items) {
        const raw = new Uint8Array(
          await (await s.call("GET", `/v1/messages/${m.id}/raw`, token))
            .arrayBuffer(),
        );
        const digest = Array.from(
          new Uint8Array(await crypto.subtle.digest("SHA-256", raw)),
          (b) => b.toString(16).padStart(2, "0"),
        ).join("");
        out.set(String(m.id), {
          mailbox: box.name,
          flags: m.flags,
          keywords: [...m.keywords].sort(),
          raw: `${raw.byteLength}:${digest}`,
        });
      }
      cursor = page.nextCursor;
    } while (cursor);
  }
  return out;
}

async function login(s: Server, body: Record<string, string>): Promise<string> {
  return (await s.json("POST", "/v1/auth/login", undefined, body)).accessToken;
}

Deno.test("issue21#5: a backup taken while SMTP delivers restores into a second server with every message, flag, key and setting", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-backup-" });
  let a: Server | undefined;
  let b: Server | undefined;
  try {
    a = await server(`${dir}/a`);
    const admin = a.admin;
    // Accounts, credentials and keys.
    await a.json("POST", "/v1/admin/accounts", admin, ALICE);
    await a.json("POST", "/v1/admin/domains", admin, { name: "second.test" });
    await a.json("POST", "/v1/admin/aliases", admin, {
      address: `info@${DOMAIN}`,
      targets: [ALICE.address],
    });
    let alice = await login(a, ALICE);
    const appPassword = (await a.json("POST", "/v1/auth/app-passwords", alice, { name: "TB" }))
      .password as string;
    const apiKey = (await a.json("POST", "/v1/api-keys", alice, {
      name: "reader",
      scopes: ["read", "send"],
    })).key as string;
    const bridgeKey = (await a.json("POST", "/v1/api-keys", admin, {
      name: "bridge",
      scopes: ["bridge"],
    })).key as string;
    const adminKey = (await a.json("POST", "/v1/api-keys", admin, {
      name: "backups",
      scopes: ["admin"],
    })).key as string;
    const { secret: totpSecret } = await a.json("POST", "/v1/auth/2fa/setup", alice);
    await a.json("POST", "/v1/auth/2fa/enable", alice, {
      code: currentTotp(totpSecret, Date.now()),
    });
    // Mailboxes, messages (one above the 1 MiB chunk size), flags and keywords.
    const projects = await a.json("POST", "/v1/mailboxes", alice, { name: "Projects/2026" });
    for (let n = 0; n < 5; n++) await smtpDeliver(a.smtp, ALICE.address, mail(n, ALICE.address));
    const big = multipartWithAttachment(3 * 1024 * 1024, "big-backup").raw;
    await smtpDeliver(a.smtp, `info@${DOMAIN}`, big);
    const inbox = (await a.json("GET", "/v1/mailboxes", alice)).items.find((m: { role: string }) =>
      m.role === "inbox"
    );
    const first = (await a.json("GET", `/v1/messages?mailboxId=${inbox.id}&limit=10`, alice))
      .items as { id: number; size: number }[];
    assert(first.some((m) => m.size > 3 * 1024 * 1024), "the large message arrived");
    await a.json("PATCH", `/v1/messages/${first[0].id}`, alice, {
      flags: { seen: true, flagged: true },
      addKeywords: ["$Important", "project-x"],
    });
    await a.json("POST", `/v1/messages/${first[1].id}/move`, alice, { mailboxId: projects.id });
    const draft = await a.json("POST", "/v1/drafts", alice, {
      from: ALICE.address,
      to: ["someone@remote.test"],
      subject: "Half written",
      text: "To be continued",
    });
    // Transactional state and settings.
    await a.json("POST", "/v1/templates", admin, {
      name: "welcome",
      subject: "Hi {{name}}",
      text: "Welcome, {{name}}!",
    });
    const hook = await a.json("POST", "/v1/webhooks", admin, {
      url: "http://127.0.0.1:9/hook",
    });
    await a.json("POST", `/v1/domains/${DOMAIN}/suppressions`, admin, {
      address: "gone@remote.test",
    });
    await a.json("PATCH", `/v1/domains/${DOMAIN}/sending`, admin, {
      trackOpens: true,
      verp: true,
    });
    const before = await messagesOf(a, alice);

    // The backup runs while SMTP keeps delivering.
    const env = { POSTERN_DATA_DIR: `${dir}/a` };
    let delivering = true;
    const delivered = (async () => {
      let n = 100;
      while (delivering && n < 400) await smtpDeliver(a!.smtp, ALICE.address, mail(n++, "x"));
      return n - 100;
    })();
    const backup = await runCli(["backup", "--out", `${dir}/full.tar`, "--json"], env);
    const during = await delivered.finally(() => delivering = false);
    delivering = false;
    assertEquals(backup.code, 0, backup.stderr);
    const summary = JSON.parse(backup.stdout);
    assertEquals(summary.engine, "file");
    assertMatch(summary.consistency, /one read transaction/);
    assert(during > 0, "mail was delivered while the backup ran");

    // No secret in plaintext anywhere in the file.
    const file = await Deno.readFile(`${dir}/full.tar`);
    const text = new TextDecoder("latin1").decode(file);
    const dkim = await a.json("GET", `/v1/bridge/dkim/${DOMAIN}`, bridgeKey);
    const masterKey = (await Deno.readTextFile(`${dir}/a/master.key`)).trim();
    for (
      const [what, secret] of [
        ["password", ALICE.password],
        ["admin password", SERVE_ADMIN.password],
        ["app password", appPassword],
        ["API key", apiKey],
        ["TOTP seed", totpSecret],
        ["webhook secret", hook.secret],
        ["master key", masterKey],
        ...dkim.keys.map((k: { privateKeyPem: string }, i: number) => [
          `DKIM key ${i}`,
          k.privateKeyPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "").slice(0, 40),
        ]),
      ] as [string, string][]
    ) {
      assert(secret && secret.length >= 8, `${what} known`);
      assert(!text.includes(secret), `the backup holds the ${what} in plaintext`);
    }

    // Restore into a second data folder and start a second server on it.
    const restore = await runCli([
      "restore",
      `${dir}/full.tar`,
      "--master-key-file",
      `${dir}/a/master.key`,
      "--json",
    ], { POSTERN_DATA_DIR: `${dir}/b` });
    assertEquals(restore.code, 0, restore.stderr);
    assertEquals(JSON.parse(restore.stdout).danglingReferences, 0);
    b = await server(`${dir}/b`);

    // Every message present before the backup is there, byte for byte, with its flags; every
    // message there is one A holds identically (a consistent cut of the mail delivered during).
    alice = await login(a, { ...ALICE, totp: currentTotp(totpSecret, Date.now()) });
    const aliceB = await login(b, { ...ALICE, totp: currentTotp(totpSecret, Date.now()) });
    const afterA = await messagesOf(a, alice);
    const inB = await messagesOf(b, aliceB);
    for (const [id, held] of before) assertEquals(inB.get(id), held, `message ${id}`);
    for (const [id, held] of inB) assertEquals(held, afterA.get(id), `message ${id} in B`);
    assert(inB.size >= before.size && inB.size <= afterA.size);

    // Every credential and key works on B.
    assertEquals((await b.json("GET", "/v1/auth/me", apiKey)).address, ALICE.address);
    const auth = await b.call("POST", "/v1/bridge/auth", bridgeKey, {
      username: ALICE.address,
      secret: appPassword,
      protocol: "imap",
      clientIp: "127.0.0.1",
    });
    assertEquals(auth.status, 200, await auth.text());
    assertEquals(await b.json("GET", `/v1/bridge/dkim/${DOMAIN}`, bridgeKey), dkim);
    assertEquals(
      await b.json("GET", `/.well-known/sharp/jwks?domain=${DOMAIN}`),
      await a.json("GET", `/.well-known/sharp/jwks?domain=${DOMAIN}`),
    );
    // Every setting and list.
    const adminB = b.admin;
    for (
      const path of [
        "/v1/admin/accounts",
        "/v1/admin/aliases",
        "/v1/admin/domains",
        "/v1/templates",
        "/v1/webhooks",
        `/v1/domains/${DOMAIN}/suppressions`,
        `/v1/domains/${DOMAIN}/sending`,
      ]
    ) {
      // Quota use moved on A with the mail that came after the snapshot; compared below.
      const strip = (v: { items?: Record<string, unknown>[] }) =>
        JSON.stringify(v, (k, x) => k === "usedBytes" ? undefined : x);
      assertEquals(
        strip(await b.json("GET", path, adminB)),
        strip(await a.json("GET", path, admin)),
      );
    }
    // The quota counter comes from the same instant as the messages it counts.
    const usedB = (await b.json("GET", "/v1/admin/accounts", adminB)).items
      .find((x: { address: string }) => x.address === ALICE.address).usedBytes;
    const sizes = [...inB.values()].reduce((n, m) => n + Number(m.raw.split(":")[0]), 0);
    assertEquals(usedB, sizes);
    assertEquals(
      await b.json("GET", `/v1/drafts/${draft.id}`, aliceB),
      await a.json("GET", `/v1/drafts/${draft.id}`, alice),
    );
    // And B takes new mail after the restored ids (AUTOINCREMENT counters came along).
    await smtpDeliver(b.smtp, ALICE.address, mail(999, ALICE.address));
    const grown = await messagesOf(b, aliceB);
    assertEquals(grown.size, inB.size + 1);
    assert(Math.max(...[...grown.keys()].map(Number)) > Math.max(...[...inB.keys()].map(Number)));

    // The gateway endpoint: admins only, and the CLI saves and restores what it streams.
    assertEquals((await a.call("GET", "/v1/admin/backup")).status, 401);
    assertEquals((await a.call("GET", "/v1/admin/backup", apiKey)).status, 403);
    const viaGateway = await runCli([
      "backup",
      "--gateway",
      a.base,
      "--out",
      `${dir}/gw/`,
      "--json",
    ], { POSTERN_API_KEY: adminKey });
    assertEquals(viaGateway.code, 0, viaGateway.stderr);
    assertEquals(JSON.parse(viaGateway.stdout).format, "folder");
    const fromGateway = await runCli(
      ["restore", `${dir}/gw`, "--master-key-file", `${dir}/a/master.key`],
      { POSTERN_DATA_DIR: `${dir}/c` },
    );
    assertEquals(fromGateway.code, 0, fromGateway.stderr);
    await b.stop();
    b = undefined;
    b = await server(`${dir}/c`);
    const aliceC = await login(b, { ...ALICE, totp: currentTotp(totpSecret, Date.now()) });
    assertEquals(await messagesOf(b, aliceC), await messagesOf(a, alice));
  } finally {
    await a?.stop();
    await b?.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A fresh data folder with a few rows, backed up into `out`; returns the environment. */
async function smallBackup(dir: string, out: string, extra: Record<string, string> = {}) {
  const env = {
    POSTERN_DATA_DIR: `${dir}/src`,
    POSTERN_ADMIN_PASSWORD: SERVE_ADMIN.password,
    ...extra,
  };
  const init = await runCli(["init"], env);
  assertEquals(init.code, 0, init.stderr);
  const send = await runCli([
    "send",
    "--local",
    "--from",
    `admin@${DOMAIN}`,
    "--to",
    `admin@${DOMAIN}`,
    "--subject",
    "Kept",
    "--text",
    "A message to back up",
  ], env);
  assertEquals(send.code, 0, send.stderr);
  const backup = await runCli(["backup", "--out", out, "--json"], env);
  assertEquals(backup.code, 0, backup.stderr);
  return { env, summary: JSON.parse(backup.stdout) };
}

Deno.test("issue21#5: a truncated, tampered or foreign-key backup is refused naming the part, and a non-empty target is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-backup-bad-" });
  try {
    const tar = `${dir}/good.tar`;
    await smallBackup(dir, tar);
    const bytes = await Deno.readFile(tar);
    const key = `${dir}/src/master.key`;
    const restore = (from: string, keyFile = key, target = `${dir}/t-${crypto.randomUUID()}`) =>
      runCli(["restore", from, "--master-key-file", keyFile], { POSTERN_DATA_DIR: target });

    // Truncated: cut in the middle of the file.
    await Deno.writeFile(`${dir}/cut.tar`, bytes.subarray(0, Math.floor(bytes.byteLength / 2)));
    const cut = await restore(`${dir}/cut.tar`);
    assertEquals(cut.code, 1, cut.stderr);
    assertMatch(cut.stderr, /refused: .*(truncated|ends without)/);

    // One octet of the first part changed: that part is named.
    const firstName = new TextDecoder().decode(bytes.subarray(0, 100)).replace(/\0.*$/s, "");
    const tampered = bytes.slice();
    tampered[512 + 2] ^= 0x01;
    await Deno.writeFile(`${dir}/tampered.tar`, tampered);
    const bad = await restore(`${dir}/tampered.tar`);
    assertEquals(bad.code, 1, bad.stderr);
    assert(bad.stderr.includes(`${firstName}: checksum mismatch`), bad.stderr);

    // The manifest edited (its digests still hold): the key check fails.
    const text = new TextDecoder("latin1").decode(bytes);
    const at = text.indexOf('"createdAt": "2');
    assert(at > 0);
    const edited = bytes.slice();
    edited[at + '"createdAt": "'.length] = "1".charCodeAt(0);
    await Deno.writeFile(`${dir}/edited.tar`, edited);
    const altered = await restore(`${dir}/edited.tar`);
    assertEquals(altered.code, 1, altered.stderr);
    assertMatch(altered.stderr, /manifest\.json: altered/);

    // Another master key.
    await Deno.writeTextFile(`${dir}/other.key`, "x".repeat(43) + "\n");
    const foreign = await restore(tar, `${dir}/other.key`);
    assertEquals(foreign.code, 1, foreign.stderr);
    assertMatch(foreign.stderr, /master key does not match/);

    // A folder backup with a part gone.
    const folder = await runCli(["backup", "--out", `${dir}/folder/`], {
      POSTERN_DATA_DIR: `${dir}/src`,
    });
    assertEquals(folder.code, 0, folder.stderr);
    await Deno.remove(`${dir}/folder/${firstName}`);
    const missing = await restore(`${dir}/folder`);
    assertEquals(missing.code, 1, missing.stderr);
    assert(missing.stderr.includes(`${firstName}: missing from the backup`), missing.stderr);

    // A data folder with something in it is never written to.
    await Deno.mkdir(`${dir}/busy`);
    await Deno.writeTextFile(`${dir}/busy/notes.txt`, "mine");
    const busy = await restore(tar, key, `${dir}/busy`);
    assertEquals(busy.code, 3, busy.stderr);
    assertMatch(busy.stderr, /not empty/);
    assertEquals([...Deno.readDirSync(`${dir}/busy`)].map((e) => e.name), ["notes.txt"]);

    // None of the refusals wrote anything; the good file still restores.
    const good = await restore(tar);
    assertEquals(good.code, 0, good.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue21#5: remote libSQL (the Hrana test server) backs up in one read transaction and restores into a file and into an empty remote database", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-backup-remote-" });
  const hrana = startHranaServer({ db: `${dir}/remote.db` });
  const target = startHranaServer({ db: `${dir}/target.db` });
  let a: Server | undefined;
  let b: Server | undefined;
  try {
    const remote = { POSTERN_DATABASE_URL: hrana.url };
    const { summary } = await smallBackup(dir, `${dir}/remote.tar`, remote);
    assertEquals(summary.engine, "libsql");
    assertMatch(summary.consistency, /one read transaction on the libSQL server/);

    const key = `${dir}/src/master.key`;
    const toFile = await runCli(["restore", `${dir}/remote.tar`, "--master-key-file", key], {
      POSTERN_DATA_DIR: `${dir}/file`,
    });
    assertEquals(toFile.code, 0, toFile.stderr);
    const toRemote = await runCli(["restore", `${dir}/remote.tar`, "--master-key-file", key], {
      POSTERN_DATA_DIR: `${dir}/r`,
      POSTERN_DATABASE_URL: target.url,
    });
    assertEquals(toRemote.code, 0, toRemote.stderr);
    const again = await runCli(["restore", `${dir}/remote.tar`, "--master-key-file", key], {
      POSTERN_DATA_DIR: `${dir}/r2`,
      POSTERN_DATABASE_URL: target.url,
    });
    assertEquals(again.code, 3, again.stderr);
    assertMatch(again.stderr, /not empty/);

    // The same mail, byte for byte, from the source and from both restored stores.
    a = await server(`${dir}/src`, remote);
    const source = await messagesOf(a, a.admin);
    assertEquals(source.size, 2); // the message, in Sent and in the Inbox
    await a.stop();
    a = undefined;
    const restoredStores: { dir: string; vars: Record<string, string> }[] = [
      { dir: `${dir}/file`, vars: {} },
      { dir: `${dir}/r`, vars: { POSTERN_DATABASE_URL: target.url } },
    ];
    for (const restored of restoredStores) {
      b = await server(restored.dir, restored.vars);
      assertEquals(await messagesOf(b, b.admin), source);
      await b.stop();
      b = undefined;
    }
  } finally {
    await a?.stop();
    await b?.stop();
    await hrana.close();
    await target.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "issue21#5: a Worker's D1 + R2 store is backed up through GET /v1/admin/backup and restored into a file, large bodies from R2 included",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "postern-backup-d1-" });
    const worker = await startWorkerGateway({ assets: false, r2: true });
    let b: Server | undefined;
    try {
      const signIn = await worker.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN));
      const token = (await signIn.json()).accessToken as string;
      const big = multipartWithAttachment(2_400_000, `d1-${crypto.randomUUID()}`).raw;
      for (const raw of [big, new TextEncoder().encode(mail(1, WORKER_ADMIN.address))]) {
        const got = await worker.emailStream("zed@remote.example", WORKER_ADMIN.address, raw);
        assertEquals(got.outcome, "ok");
      }
      const onWorker = {
        call: (method: string, path: string, t?: string) =>
          worker.fetch(path, { method, headers: t ? { authorization: `Bearer ${t}` } : {} }),
        json: async (method: string, path: string, t?: string) =>
          await (await worker.fetch(path, {
            method,
            headers: t ? { authorization: `Bearer ${t}` } : {},
          })).json(),
      };
      const source = await messagesOf(onWorker, token);
      assertEquals(source.size, 2);

      const res = await worker.fetch("/v1/admin/backup", {
        headers: { authorization: `Bearer ${token}` },
      });
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), "application/x-tar");
      await Deno.writeFile(`${dir}/worker.tar`, new Uint8Array(await res.arrayBuffer()));
      const text = new TextDecoder("latin1").decode(await Deno.readFile(`${dir}/worker.tar`));
      const manifest = JSON.parse(
        text.slice(text.indexOf('{\n "format"'), text.lastIndexOf("}") + 1),
      );
      assertEquals(manifest.engine, "d1");
      assertMatch(manifest.consistency, /per page/);
      assertEquals(
        manifest.parts.filter((p: { name: string }) => p.name.startsWith("objects/")).length,
        1,
        "the large body came from R2",
      );

      const restore = await runCli(["restore", `${dir}/worker.tar`], {
        POSTERN_DATA_DIR: `${dir}/b`,
        POSTERN_MASTER_KEY: WORKER_MASTER_KEY,
      });
      assertEquals(restore.code, 0, restore.stderr);
      b = await server(`${dir}/b`, { POSTERN_MASTER_KEY: WORKER_MASTER_KEY });
      const tokenB = await login(b, { ...WORKER_ADMIN });
      assertEquals(await messagesOf(b, tokenB), source);
    } finally {
      await b?.stop();
      await worker.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("issue21#5: a backup of an older schema is restored and brought forward by this Postern's newer migrations", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-backup-old-" });
  const old = createClient({ url: `file:${dir}/old.db` });
  const fresh = createClient({ url: `file:${dir}/new.db` });
  try {
    const earlier = MIGRATIONS.slice(0, -1);
    await migrate(old, earlier);
    await old.execute("INSERT INTO domains (name) VALUES ('older.test')");
    const secrets = await SecretBox.fromMasterKey("k".repeat(40));
    const tar = new Uint8Array(
      await new Response(dumpBackup({
        reader: await libsqlSnapshot(old, "file"),
        secrets,
        posternVersion: "0.0.9",
        now: () => Date.now(),
      })).arrayBuffer(),
    );
    const source = () => readTar(new Blob([tar]).stream());
    const manifest = await verifyBackup(source, secrets);
    assertEquals(manifest.migrations, earlier.map((m) => m.tag));
    const summary = await applyBackup(fresh, source, manifest, MIGRATIONS);
    assertEquals(summary.migrated, [MIGRATIONS.at(-1)!.tag]);
    assertEquals(
      (await fresh.execute("SELECT name FROM domains")).rows.map((r) => r[0]),
      ["older.test"],
    );
    assertEquals(
      (await fresh.execute("SELECT count(*) FROM postern_migrations")).rows[0][0],
      MIGRATIONS.length,
    );
  } finally {
    old.close();
    fresh.close();
    await Deno.remove(dir, { recursive: true });
  }
});

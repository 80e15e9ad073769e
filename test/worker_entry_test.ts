/**
 * Issue 17 items 1 and 6: the Cloudflare Worker entry (hosts/worker/main.ts), bundled by
 * `deno task worker:build` and run in the real workerd through miniflare, offline, with no
 * compatibility flags, on a local D1 database (test/fixtures/worker_gateway.ts).
 *
 * One Worker walks the README's tour over HTTP (setup on the first request, login, sends to a
 * local user and to a federation peer, mailboxes, messages, search, threads, the event stream,
 * the raw download, attachments, an API key), receives mail through `email()` as Cloudflare
 * Email Routing hands it in (verdicts kept, unknown recipients and oversize mail refused, a
 * retried event stored once), and delivers the queued federation message to a `postern
 * serve`-style gateway from `scheduled()`, whose signed receipt the Worker verifies and keeps.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import Database from "libsql";
import { startFederation } from "./fixtures/federation.ts";
import {
  jsonPost,
  startWorkerGateway,
  WORKER_ADMIN,
  WORKER_DOMAIN,
  workerBundle,
  type WorkerGateway,
} from "./fixtures/worker_gateway.ts";
import { workerdCpuMs } from "./fixtures/workerd.ts";
import { hashPassword, hashPasswordPbkdf2, verifyPassword } from "../src/auth/password.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const bearer = (token: string): RequestInit => ({ headers: { authorization: `Bearer ${token}` } });

const BOB = { address: `bob@${WORKER_DOMAIN}`, password: "edge-bob-password-1" };

/** A message as Email Routing hands it in: Cloudflare's ARC set on top, then the sender's. */
function routedMail(subject: string, opts: { to?: string; id?: string } = {}) {
  const to = opts.to ?? BOB.address;
  return [
    "ARC-Authentication-Results: i=1; mx.cloudflare.net;",
    " dkim=pass header.d=sender.example header.s=s1 header.b=abc;",
    " dmarc=pass header.from=sender.example policy.dmarc=none;",
    " spf=pass (mx.cloudflare.net: domain of a@sender.example designates 192.0.2.1 as permitted sender)",
    " smtp.mailfrom=a@sender.example; arc=none",
    // Written by the sender: below Cloudflare's, and another authserv-id, so never trusted.
    "Authentication-Results: evil.example; dkim=pass header.d=bank.example; dmarc=pass",
    "From: Ann <a@sender.example>",
    `To: ${to}`,
    `Subject: ${subject}`,
    `Message-ID: <${opts.id ?? crypto.randomUUID()}@sender.example>`,
    "Date: Mon, 07 Dec 2026 08:00:00 +0000",
    "",
    `Body of ${subject}`,
    "",
  ].join("\r\n");
}

Deno.test({
  name:
    "issue17#1: the Worker bundle in workerd on D1: README tour, email() and scheduled() federation",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const fed = await startFederation(["peer.test"]);
    const [peer] = fed.peers;
    const worker = await startWorkerGateway({
      dnsPort: fed.dns.port,
      caCerts: [fed.ca],
      tls: { cert: fed.cert, key: fed.key },
      // The peer listens on 127.0.0.1: private targets allowed, as in every federation test.
      vars: {
        POSTERN_FEDERATION_ALLOW_PRIVATE: "true",
        POSTERN_WEBHOOK_ALLOW_PRIVATE: "true",
        POSTERN_MAX_MESSAGE_BYTES: "65536",
      },
    });
    // A webhook endpoint over TLS (the test CA), reached through the Worker's outbound fetch.
    const hooks: { headers: Headers; body: string }[] = [];
    const hookServer = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: fed.cert, key: fed.key, onListen() {} },
      async (req) => {
        hooks.push({ headers: new Headers(req.headers), body: await req.text() });
        return new Response(null, { status: 204 });
      },
    );
    // The peer finds the Worker's discovery document and JWKS through its DNS.
    fed.dns.zone[`_sharp.${WORKER_DOMAIN}`] = {
      TXT: [`v=sharp1; host=${new URL(worker.url).host}`],
    };
    try {
      let token = "";
      let sentMessageId = "";
      await t.step("setup happens on the first request; the admin signs in", async () => {
        const health = await worker.fetch("/health");
        assertEquals(health.status, 200, await health.clone().text());
        const login = await worker.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN));
        const body = await login.json() as Json;
        assertEquals(login.status, 200, JSON.stringify(body));
        token = body.accessToken;
        const me = await (await worker.fetch("/v1/auth/me", bearer(token))).json() as Json;
        assertEquals(me.address, WORKER_ADMIN.address);
        const wrong = await worker.fetch(
          "/v1/auth/login",
          jsonPost({ ...WORKER_ADMIN, password: "not-the-password" }),
        );
        assertEquals(wrong.status, 401);
        await wrong.body?.cancel();
      });

      await t.step("the admin adds a user and sends to it and to a federation peer", async () => {
        const made = await worker.fetch("/v1/admin/accounts", jsonPost(BOB, token));
        assertEquals(made.status, 201, await made.clone().text());
        await made.body?.cancel();
        const sent = await worker.fetch(
          "/v1/emails",
          jsonPost({
            from: WORKER_ADMIN.address,
            to: [BOB.address, `alice@${peer.domain}`],
            subject: "Hello from the edge",
            text: "First message through a Worker",
          }, token),
        );
        const body = await sent.json() as Json;
        assertEquals(sent.status, 201, JSON.stringify(body));
        sentMessageId = body.messageId;
        const status = Object.fromEntries(
          body.recipients.map((r: Json) => [r.address, r.status]),
        );
        assertEquals(status, { [BOB.address]: "delivered", [`alice@${peer.domain}`]: "queued" });
      });

      let bobToken = "";
      let bobMessage = 0;
      await t.step("mailboxes, messages, search, threads, raw download", async () => {
        const login = await (await worker.fetch("/v1/auth/login", jsonPost(BOB))).json() as Json;
        bobToken = login.accessToken;
        const boxes = await (await worker.fetch("/v1/mailboxes", bearer(bobToken))).json() as Json;
        const inbox = boxes.items.find((b: Json) => b.role === "inbox");
        assertEquals(inbox.counts.total, 1, JSON.stringify(inbox));
        const created = await worker.fetch(
          "/v1/mailboxes",
          jsonPost({ name: "Receipts" }, bobToken),
        );
        assertEquals(created.status, 201, await created.clone().text());
        await created.body?.cancel();
        const list = await (await worker.fetch("/v1/messages?limit=10", bearer(bobToken)))
          .json() as Json;
        assertEquals(list.items.map((m: Json) => m.subject), ["Hello from the edge"]);
        bobMessage = list.items[0].id;
        const found = await (await worker.fetch("/v1/search?q=worker", bearer(bobToken)))
          .json() as Json;
        assertEquals(found.items.map((m: Json) => m.id), [bobMessage]);
        const none = await (await worker.fetch("/v1/search?q=zeppelin", bearer(bobToken)))
          .json() as Json;
        assertEquals(none.items, []);
        const threads = await worker.fetch("/v1/threads", bearer(bobToken));
        assertEquals(threads.status, 200);
        assertEquals((await threads.json() as Json).items.length, 1);
        const raw = await worker.fetch(`/v1/messages/${bobMessage}/raw`, bearer(bobToken));
        assertEquals(raw.status, 200);
        const text = new TextDecoder().decode(new Uint8Array(await raw.arrayBuffer()));
        assertMatch(text, /^Subject: Hello from the edge\r$/m);
        assertMatch(text, /\r\n\r\nFirst message through a Worker/);
        // Another account's message is not found.
        const other = await worker.fetch(`/v1/messages/${bobMessage}/raw`, bearer(token));
        assertEquals(other.status, 404);
        await other.body?.cancel();
      });

      await t.step("the event stream replays the delivery", async () => {
        const controller = new AbortController();
        const res = await worker.fetch("/v1/events?since=0", {
          ...bearer(bobToken),
          signal: controller.signal,
        });
        assertEquals(res.status, 200);
        assertEquals(res.headers.get("content-type")?.split(";")[0], "text/event-stream");
        const reader = res.body!.getReader();
        let seen = "";
        const deadline = Date.now() + 10_000;
        while (!seen.includes("message.created") && Date.now() < deadline) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += new TextDecoder().decode(value);
        }
        controller.abort();
        await reader.cancel().catch(() => {});
        assertMatch(seen, /event: ready/);
        assertMatch(seen, /event: message\.created/);
      });

      await t.step(
        "attachments: uploads stored; sends refused clearly until the edge MIME port composes them",
        async () => {
          // Uploads are stored (bytes in D1, deduplicated per account).
          const upload = () =>
            worker.fetch("/v1/emails/attachments", {
              method: "POST",
              headers: {
                authorization: `Bearer ${token}`,
                "content-type": "application/octet-stream",
              },
              body: new Uint8Array(50_000).fill(7),
            });
          const first = await (await upload()).json() as Json;
          assertEquals(first.size, 50_000, JSON.stringify(first));
          assertEquals((await (await upload()).json() as Json).blobId, first.blobId);
          // The edge MIME port (src/mime/edge_port.ts) composes attachments in the Worker.
          const res = await worker.fetch(
            "/v1/emails",
            jsonPost({
              from: WORKER_ADMIN.address,
              to: [BOB.address],
              subject: "with a file",
              text: "see attached",
              attachments: [{ filename: "a.txt", contentType: "text/plain", content: btoa("hi") }],
            }, token),
          );
          const body = await res.json() as Json;
          assertEquals(res.status, 201, JSON.stringify(body));
          const list = await (await worker.fetch("/v1/messages?limit=10", bearer(bobToken)))
            .json() as Json;
          const id = list.items.find((m: Json) => m.subject === "with a file").id;
          const file = await worker.fetch(`/v1/messages/${id}/attachments/0`, bearer(bobToken));
          assertEquals(file.status, 200);
          assertEquals(await file.text(), "hi");
        },
      );

      await t.step("an API key sends", async () => {
        const made = await worker.fetch(
          "/v1/api-keys",
          jsonPost({ name: "edge-app", scopes: ["send"] }, token),
        );
        const key = await made.json() as Json;
        assertEquals(made.status, 201, JSON.stringify(key));
        const sent = await worker.fetch(
          "/v1/emails",
          jsonPost({
            from: WORKER_ADMIN.address,
            to: [BOB.address],
            subject: "from an app",
            text: "sent with an API key",
          }, key.key ?? key.secret ?? key.token),
        );
        assertEquals(sent.status, 201, await sent.clone().text());
        await sent.body?.cancel();
        const list = await (await worker.fetch("/v1/messages?limit=10", bearer(bobToken)))
          .json() as Json;
        assert(list.items.some((m: Json) => m.subject === "from an app"));
      });

      let hookSecret = "";
      await t.step("a webhook for the user's inbound mail", async () => {
        const made = await worker.fetch(
          "/v1/webhooks",
          jsonPost({
            url: `https://127.0.0.1:${hookServer.addr.port}/hook`,
            events: ["email.received"],
          }, bobToken),
        );
        const hook = await made.json() as Json;
        assertEquals(made.status, 201, JSON.stringify(hook));
        hookSecret = hook.secret;
      });

      await t.step("email(): Email Routing mail reaches the inbox with its verdicts", async () => {
        const raw = routedMail("routed in", { id: "routed-1" });
        const first = await worker.email("a@sender.example", BOB.address, raw);
        assertEquals([first.status, first.outcome, first.rejectReason], [200, "ok", undefined]);
        const list = await (await worker.fetch("/v1/messages?limit=20", bearer(bobToken)))
          .json() as Json;
        const routed = list.items.filter((m: Json) => m.subject === "routed in");
        assertEquals(routed.length, 1);
        const detail = await (await worker.fetch(`/v1/messages/${routed[0].id}`, bearer(bobToken)))
          .json() as Json;
        const auth = detail.authentication;
        assertEquals(auth.spf.result, "pass");
        assertEquals(auth.dmarc.result, "pass");
        assertEquals(auth.dkim[0].domain, "sender.example");
        assertEquals(auth.dkim[0].aligned, true);
        const stored =
          await (await worker.fetch(`/v1/messages/${routed[0].id}/raw`, bearer(bobToken)))
            .text();
        // Our own Authentication-Results and Received fields on top; the sender's forged
        // results field is kept as received but never trusted.
        assertMatch(stored, /^Authentication-Results: edge\.test;\r\n spf=pass/);
        assertMatch(
          stored,
          /\r\nReceived: from mx\.cloudflare\.net \(Cloudflare Email Routing\)\r\n by edge\.test/,
        );

        // Email Routing retries the same message (an error on our side, say): stored once.
        const again = await worker.email("a@sender.example", BOB.address, raw);
        assertEquals([again.status, again.outcome], [200, "ok"]);
        const after = await (await worker.fetch("/v1/messages?limit=20", bearer(bobToken)))
          .json() as Json;
        assertEquals(after.items.filter((m: Json) => m.subject === "routed in").length, 1);
      });

      await t.step("email(): Postern checks DKIM itself (RFC 8463 A.3, over DoH)", async () => {
        const data = new URL("./data/dkim/", import.meta.url);
        const zone = JSON.parse(await Deno.readTextFile(new URL("rfc8463-zone.json", data)));
        Object.assign(fed.dns.zone, zone);
        const eml = (await Deno.readTextFile(new URL("rfc8463-A3.eml", data)))
          .replace(/\r?\n/g, "\r\n");
        const got = await worker.email("joe@football.example.com", BOB.address, eml);
        assertEquals([got.outcome, got.rejectReason], ["ok", undefined]);
        const list = await (await worker.fetch("/v1/messages?limit=30", bearer(bobToken)))
          .json() as Json;
        const id = list.items.find((m: Json) => m.subject === "Is dinner ready?").id;
        const detail = await (await worker.fetch(`/v1/messages/${id}`, bearer(bobToken)))
          .json() as Json;
        const auth = detail.authentication;
        assertEquals(auth.dkimBy, WORKER_DOMAIN);
        assertEquals(auth.dkim.map((d: Json) => [d.algo, d.result, d.aligned]), [
          ["ed25519-sha256", "pass", true],
          ["rsa-sha256", "pass", true],
        ]);
        const raw = await (await worker.fetch(`/v1/messages/${id}/raw`, bearer(bobToken))).text();
        assertMatch(raw, /dkim=pass header\.d=football\.example\.com header\.s=brisbane/);
      });

      await t.step("email(): unknown recipients and oversize mail are refused", async () => {
        const nobody = `nobody@${WORKER_DOMAIN}`;
        const unknown = await worker.email(
          "a@sender.example",
          nobody,
          routedMail("x", { to: nobody }),
        );
        assertMatch(unknown.rejectReason ?? "", /^550 5\.1\.1 <nobody@edge\.test>/);
        const big = routedMail("big").replace("Body of big", "x".repeat(70_000));
        const large = await worker.email("a@sender.example", BOB.address, big);
        assertMatch(large.rejectReason ?? "", /^552 5\.3\.4 message too large/);
        const list = await (await worker.fetch("/v1/messages?limit=50", bearer(bobToken)))
          .json() as Json;
        assert(!list.items.some((m: Json) => m.subject === "big"));
      });

      await t.step(
        "scheduled() federates the queued message (receipt kept) and posts the webhook",
        async () => {
          const run = await worker.scheduled();
          assertEquals(run.outcome, "ok");
          const res = await peer.call("GET", "/v1/messages?limit=10", { as: "alice" });
          const got = await res.json() as Json;
          assertEquals(got.items.map((m: Json) => m.subject), ["Hello from the edge"]);
          const detail = await (await peer.call("GET", `/v1/messages/${got.items[0].id}`, {
            as: "alice",
          })).json() as Json;
          assertEquals(detail.authentication.federation.result, "pass");
          assertEquals(detail.authentication.federation.signer, WORKER_DOMAIN);
          const receipts = await (await worker.fetch(
            `/v1/federation/receipts?messageId=${encodeURIComponent(sentMessageId)}`,
            bearer(token),
          )).json() as Json;
          assertEquals(receipts.items.length, 1, JSON.stringify(receipts));
          assertEquals(receipts.items[0].domain, peer.domain);
          assertEquals(receipts.items[0].results.map((r: Json) => r.status), ["accepted"]);
          // The Worker reached the peer and DNS through its subrequests only.
          assert(worker.subrequests.some((u) => u.includes("/.well-known/sharp")));
          assert(worker.subrequests.some((u) => u.startsWith("https://doh.test/")));
          // The inbound mail's email.received webhook, posted by the same run, signed.
          const received = hooks.map((h) => ({ ...h, event: JSON.parse(h.body) }))
            .filter((h) => h.event.type === "email.received");
          assert(
            received.some((h) => JSON.stringify(h.event).includes("routed in")),
            hooks[0]?.body,
          );
          const { headers, body } = received[0];
          const key = Uint8Array.from(
            atob(hookSecret.replace(/^whsec_/, "")),
            (c) => c.charCodeAt(0),
          );
          const hmac = await crypto.subtle.importKey(
            "raw",
            key,
            { name: "HMAC", hash: "SHA-256" },
            false,
            ["sign"],
          );
          const signed = `${headers.get("webhook-id")}.${headers.get("webhook-timestamp")}.${body}`;
          const mac = new Uint8Array(
            await crypto.subtle.sign("HMAC", hmac, new TextEncoder().encode(signed)),
          );
          assertEquals(headers.get("webhook-signature"), `v1,${btoa(String.fromCharCode(...mac))}`);
          const queue = await (await worker.fetch("/v1/queue", bearer(token))).json() as Json;
          assert(queue.items.every((q: Json) => q.state === "sent"), JSON.stringify(queue.items));
        },
      );

      await t.step(
        "/docs with the renderer from the ASSETS binding, /mail and /openapi.json",
        async () => {
          const page = await worker.fetch("/docs");
          assertEquals(page.status, 200);
          const html = await page.text();
          const script = /src="([^"]*scalar[^"]*)"/.exec(html)?.[1];
          assert(script, html.slice(0, 500));
          const asset = await worker.fetch(new URL(script, worker.url).pathname);
          assertEquals(asset.status, 200);
          const bytes = new Uint8Array(await asset.arrayBuffer());
          assert(bytes.byteLength > 1_000_000, `${bytes.byteLength} bytes`);
          // Plain script, not gzip bytes (0x1f 0x8b) that the runtime would compress again.
          assert(bytes[0] !== 0x1f || bytes[1] !== 0x8b, "the renderer came back gzipped");
          // The webmail's shell and the OpenAPI document come from the same Worker.
          const mail = await worker.fetch("/mail");
          assertEquals([mail.status, mail.headers.get("content-type")?.split(";")[0]], [
            200,
            "text/html",
          ]);
          await mail.text();
          // The sign-in page reads the store (is this server new?), on D1 here.
          const signin = await worker.fetch("/signin");
          assertEquals(signin.status, 200);
          assert((await signin.text()).includes('id="signin"'));
          const openapi = await (await worker.fetch("/openapi.json")).json() as Json;
          assert(openapi.paths["/v1/emails"], "the OpenAPI document lists the send route");
        },
      );
    } finally {
      await worker.dispose();
      await hookServer.shutdown();
      await fed.close();
    }
    const built = await workerBundle();
    console.log(
      `worker bundle: ${built.rawBytes} bytes raw, ${built.gzipBytes} bytes gzip`,
    );
  },
});

Deno.test({
  name:
    "issue17#1: a misconfigured Worker answers 503 naming every problem; email() fails temporarily",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const worker = await startWorkerGateway({
      assets: false,
      vars: { POSTERN_MASTER_KEY: "", POSTERN_DOMAIN: "not a domain", POSTERN_LOG_LEVEL: "loud" },
    });
    try {
      const res = await worker.fetch("/v1/mailboxes");
      const body = await res.json() as Json;
      assertEquals([res.status, body.code], [503, "server_busy"]);
      assertMatch(body.detail, /POSTERN_DOMAIN=not a domain/);
      assertMatch(body.detail, /POSTERN_MASTER_KEY \(a secret/);
      assertMatch(body.detail, /POSTERN_LOG_LEVEL=loud: expected one of/);
      // Email Routing gets an exception (a temporary failure), never a silent loss.
      const mail = await worker.email("a@sender.example", BOB.address, routedMail("lost?"));
      assertEquals(mail.outcome, "exception");
    } finally {
      await worker.dispose();
    }
  },
});

Deno.test({
  name: "issue17#1: a Worker with another master key refuses the store it did not make",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const persist = await Deno.makeTempDir({ prefix: "postern-worker-key-" });
    try {
      const first = await startWorkerGateway({ persist, assets: false });
      const ok = await first.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN));
      assertEquals(ok.status, 200);
      await ok.text();
      await first.dispose();
      const other = await startWorkerGateway({
        persist,
        assets: false,
        vars: { POSTERN_MASTER_KEY: "another-master-key-0123456789abcdefghij" },
      });
      try {
        const res = await other.fetch("/v1/mailboxes");
        const body = await res.json() as Json;
        assertEquals(res.status, 503);
        assertMatch(body.detail, /POSTERN_MASTER_KEY does not open the keys sealed in this D1/);
      } finally {
        await other.dispose();
      }
    } finally {
      await Deno.remove(persist, { recursive: true });
    }
  },
});

Deno.test({
  name: "issue17#1: wrangler accepts deploy/cloudflare/wrangler.toml.example with the bundle",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const built = await workerBundle();
    const dir = built.assets.replace(/\/assets$/, "");
    const example = await Deno.readTextFile(
      new URL("../deploy/cloudflare/wrangler.toml.example", import.meta.url),
    );
    const temp = await Deno.makeTempDir({ prefix: "postern-wrangler-" });
    try {
      // The example's paths are relative to the repository; here they point at the test build.
      const config = example
        .replace("<from wrangler d1 create postern>", "00000000-0000-0000-0000-000000000000")
        .replaceAll(".build/worker", dir);
      await Deno.writeTextFile(`${temp}/wrangler.toml`, config);
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "npm:wrangler",
          "deploy",
          "--dry-run",
          "--config",
          `${temp}/wrangler.toml`,
          "--outdir",
          `${temp}/out`,
        ],
        cwd: new URL("../", import.meta.url).pathname,
        env: { NO_COLOR: "1", CI: "1", WRANGLER_SEND_METRICS: "false" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert(out.success, text);
      // hash-wasm's binaries go up as compiled modules beside the bundle (precompiled_wasm.ts).
      for (const name of ["argon2", "blake2b"]) {
        assertMatch(text, new RegExp(`${name}\\.wasm\\s+│\\s+compiled-wasm`));
      }
      for (const binding of [/env\.DB \(postern\)\s+D1 Database/, /env\.ASSETS\s+Assets/]) {
        assertMatch(text, binding);
      }
      for (const name of ["POSTERN_DOMAIN", "POSTERN_ADMIN_ADDRESS", "POSTERN_DNS_DOH_URL"]) {
        assertMatch(text, new RegExp(`env\\.${name} \\(`));
      }
      const gzip = /Total Upload: [\d.]+ KiB \/ gzip: ([\d.]+) KiB/.exec(text);
      assert(gzip && Number(gzip[1]) < 3 * 1024, `over 3 MB compressed: ${gzip?.[0]}`);
    } finally {
      await Deno.remove(temp, { recursive: true });
    }
  },
});

/** The D1 database miniflare keeps under `persist` (one SQLite file per database). */
async function d1File(persist: string): Promise<string> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".sqlite") && !path.includes("/metadata")) found.push(path);
    }
  };
  await walk(persist);
  assertEquals(found.length, 1, `one D1 database file: ${found.join(", ")}`);
  return found[0];
}

/** Reads (and with `set`, first replaces) an account's stored password hash in the D1 file. */
function storedHash(file: string, address: string, set?: string): string {
  const db = new Database(file);
  try {
    if (set) {
      db.prepare("UPDATE accounts SET password_hash = ? WHERE address = ?").run(set, address);
    }
    return (db.prepare("SELECT password_hash AS h FROM accounts WHERE address = ?")
      .get(address) as { h: string }).h;
  } finally {
    db.close();
  }
}

Deno.test({
  name: "issue17#2: in workerd, passwords are argon2id from precompiled WASM; PBKDF2 logins rehash",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const persist = await Deno.makeTempDir({ prefix: "postern-worker-argon2-" });
    const carol = { address: `carol@${WORKER_DOMAIN}`, password: "edge-carol-password-1" };
    const dave = { address: `dave@${WORKER_DOMAIN}`, password: "edge-dave-password-1" };
    const login = async (worker: WorkerGateway, who: { address: string; password: string }) => {
      const res = await worker.fetch("/v1/auth/login", jsonPost(who));
      const body = await res.json() as Json;
      return { status: res.status, body };
    };
    try {
      let worker = await startWorkerGateway({ persist, assets: false });
      try {
        const admin = await login(worker, WORKER_ADMIN);
        assertEquals(admin.status, 200, JSON.stringify(admin.body));
        for (const who of [BOB, carol, dave]) {
          const made = await worker.fetch(
            "/v1/admin/accounts",
            jsonPost(who, admin.body.accessToken),
          );
          assertEquals(made.status, 201, await made.text());
        }
      } finally {
        await worker.dispose();
      }
      const file = await d1File(persist);
      // Made in workerd: argon2id at Deno's parameters, and hash-wasm on Deno verifies it.
      const bobHash = storedHash(file, BOB.address);
      assertMatch(
        bobHash,
        /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
      );
      assert(await verifyPassword(BOB.password, bobHash), "a Worker's argon2id verifies on Deno");
      assert(!await verifyPassword(carol.password, bobHash));
      assertMatch(storedHash(file, WORKER_ADMIN.address), /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      // The other way: carol's hash made by hash-wasm on Deno; dave's PBKDF2, as a Worker without
      // WebAssembly made them before.
      const carolHash = storedHash(file, carol.address, await hashPassword(carol.password));
      assertMatch(carolHash, /^\$argon2id\$/);
      const daveHash = storedHash(file, dave.address, await hashPasswordPbkdf2(dave.password));

      worker = await startWorkerGateway({ persist, assets: false });
      try {
        const wrong = await login(worker, { ...dave, password: "not-daves-password" });
        assertEquals(wrong.status, 401);
        assertEquals(storedHash(file, dave.address), daveHash, "a failed login changes nothing");
        assertEquals(
          (await login(worker, carol)).status,
          200,
          "Deno's argon2id verifies in workerd",
        );
        assertEquals((await login(worker, { ...carol, password: dave.password })).status, 401);
        assertEquals(storedHash(file, carol.address), carolHash, "current argon2id stays as it is");
        assertEquals((await login(worker, dave)).status, 200, "PBKDF2 still verifies");
        const upgraded = storedHash(file, dave.address);
        assertMatch(upgraded, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
        assert(await verifyPassword(dave.password, upgraded), "the new hash verifies on Deno");
        assertEquals((await login(worker, dave)).status, 200, "and in workerd");
        assertEquals((await login(worker, { ...dave, password: carol.password })).status, 401);
        assertEquals(storedHash(file, dave.address), upgraded, "rehashed once");
        // Figures, not assertions: workerd CPU per argon2id login (bench/worker.ts section x).
        const cpu0 = workerdCpuMs();
        for (let i = 0; i < 5; i++) assertEquals((await login(worker, BOB)).status, 200);
        const cpu1 = workerdCpuMs();
        if (cpu0 !== undefined && cpu1 !== undefined) {
          console.log(`argon2id login in workerd: ${(cpu1 - cpu0) / 5} ms CPU per login (n=5)`);
        }
      } finally {
        await worker.dispose();
      }
    } finally {
      await Deno.remove(persist, { recursive: true });
    }
  },
});

/**
 * The Deno Deploy entry (hosts/deno_deploy/main.ts) as Deno Deploy runs it: a child process with
 * only `--allow-net --allow-env`, its store a remote libSQL database (the Hrana server of
 * test/fixtures/hrana_server.ts: the libSQL engine behind libSQL's remote protocol), its DNS a
 * DoH endpoint relaying to the test zone, its TLS front a proxy standing in for Deno Deploy's
 * (federation is HTTPS only). First start makes the domain and admin from the environment; the
 * README tour runs against it over HTTP; `Deno.cron` — nothing else drives background work there
 * — then delivers a webhook and a signed federation message to a second gateway.
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { dohServer, udpRelay } from "./fixtures/doh_relay.ts";
import { startFederation } from "./fixtures/federation.ts";
import { startHranaServer } from "./fixtures/hrana_server.ts";
import { listeningPort } from "./fixtures/serve_env.ts";

const ROOT = new URL("../", import.meta.url);
const ENTRY = "hosts/deno_deploy/main.ts";
const TOKEN = "hrana-token-never-printed";
const DOMAIN = "dd.test";
const ADMIN = `admin@${DOMAIN}`;
const ADMIN_PASSWORD = "deploy-admin-password-1";
const MASTER_KEY = "deno-deploy-test-master-key-0123456789abcdef";

/** The entry as a child: the flags Deno Deploy grants, nothing more. */
function spawnEntry(env: Record<string, string>): Deno.ChildProcess {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", ENTRY],
    cwd: ROOT.pathname,
    env: { ...base, ...env },
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

/** Polls `probe` once a second until it answers true (bounded: a cron run is once a minute). */
async function eventually(what: string, probe: () => Promise<boolean>, seconds = 150) {
  for (let i = 0; i < seconds; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`${what}: not within ${seconds} s`);
}

Deno.test("issue17#3: the Deno Deploy entry runs the README tour on remote libSQL under --allow-net --allow-env, and Deno.cron delivers a webhook and a federated message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-deno-deploy-" });
  const hrana = startHranaServer({ db: `${dir}/remote.db`, authToken: TOKEN });
  const fed = await startFederation(["remote.test"]);
  const [remote] = fed.peers;
  const doh = dohServer(udpRelay(fed.dns.port));
  // Deno Deploy's TLS front: HTTPS on loopback with the test CA's certificate, to the child.
  let target = 0;
  const front = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: fed.cert, key: fed.key, onListen() {} },
    (req) => {
      const url = new URL(req.url);
      return fetch(`http://127.0.0.1:${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        redirect: "manual",
      });
    },
  );
  const frontPort = (front.addr as Deno.NetAddr).port;
  fed.dns.zone[`_sharp.${DOMAIN}`] = { TXT: [`v=sharp1; host=127.0.0.1:${frontPort}`] };
  // A webhook endpoint.
  const hooks: { type: string; signed: boolean }[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.json();
    hooks.push({
      type: body.type,
      signed: /^v1,/.test(req.headers.get("webhook-signature") ?? ""),
    });
    return new Response(null, { status: 204 });
  });
  const hookUrl = `http://127.0.0.1:${(receiver.addr as Deno.NetAddr).port}/hooks`;
  // The child trusts the test CA the way a Deno process trusts any extra CA.
  const caFile = `${dir}/ca.pem`;
  await Deno.writeTextFile(caFile, fed.ca);

  const child = spawnEntry({
    DENO_CERT: caFile,
    POSTERN_DATABASE_URL: hrana.url,
    POSTERN_DATABASE_AUTH_TOKEN: TOKEN,
    POSTERN_MASTER_KEY: MASTER_KEY,
    POSTERN_DNS_DOH_URL: doh.url,
    POSTERN_HTTP_HOST: "127.0.0.1",
    POSTERN_HTTP_PORT: "0",
    POSTERN_HOSTNAME: DOMAIN,
    POSTERN_PUBLIC_URL: `https://127.0.0.1:${frontPort}`,
    POSTERN_FEDERATION_ALLOW_PRIVATE: "true",
    POSTERN_WEBHOOK_ALLOW_PRIVATE: "true",
    POSTERN_DOMAIN: DOMAIN,
    POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  const listening = await listeningPort(child.stderr);
  const restOfLog = listening.rest();
  let failure: unknown;
  try {
    assert(listening.port > 0, `the entry did not start:\n${listening.log}`);
    target = listening.port;
    const base = `http://127.0.0.1:${listening.port}`;
    const call = async (
      method: string,
      path: string,
      opts: { token?: string; body?: unknown } = {},
    ) => {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.body !== undefined) headers["content-type"] = "application/json";
      return await fetch(`${base}${path}`, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      });
    };
    const json = async (
      method: string,
      path: string,
      opts: { token?: string; body?: unknown } = {},
      status = 200,
    ) => {
      const res = await call(method, path, opts);
      const text = await res.text();
      assertEquals(res.status, status, `${method} ${path}: ${text}`);
      return text ? JSON.parse(text) : null;
    };

    // The tour: health, sign in (the admin that first start made from the environment).
    assertEquals((await json("GET", "/health")).status, "ok");
    const { accessToken: token } = await json("POST", "/v1/auth/login", {
      body: { address: ADMIN, password: ADMIN_PASSWORD },
    });
    assertEquals((await json("GET", "/v1/auth/me", { token })).address, ADMIN);
    await json("POST", "/v1/admin/accounts", {
      token,
      body: { address: `bob@${DOMAIN}`, password: "bob-password-123" },
    }, 201);

    // Send to a local user (with an attachment) and to a user of the remote gateway.
    const attachment = "quarterly figures, attached";
    const local = await json("POST", "/v1/emails", {
      token,
      body: {
        from: ADMIN,
        to: [`bob@${DOMAIN}`],
        subject: "Hello from the edge",
        text: "First message through Postern on Deno Deploy",
        attachments: [{
          filename: "figures.txt",
          contentType: "text/plain",
          content: btoa(attachment),
        }],
      },
    }, 201);
    assertEquals(local.recipients, [{ address: `bob@${DOMAIN}`, status: "delivered" }]);
    const away = await json("POST", "/v1/emails", {
      token,
      body: { from: ADMIN, to: ["bob@remote.test"], subject: "Across", text: "signed and sealed" },
    }, 201);
    assertEquals(away.recipients[0].status, "queued");

    // Mailboxes, a new one, the list, search, threads — as bob.
    const bob = (await json("POST", "/v1/auth/login", {
      body: { address: `bob@${DOMAIN}`, password: "bob-password-123" },
    })).accessToken;
    const boxes = (await json("GET", "/v1/mailboxes", { token: bob })).items;
    assert(boxes.some((b: { role: string }) => b.role === "inbox"));
    await json("POST", "/v1/mailboxes", { token: bob, body: { name: "Receipts" } }, 201);
    const list = (await json("GET", "/v1/messages?limit=10", { token: bob })).items;
    assertEquals(list.map((m: { subject: string }) => m.subject), ["Hello from the edge"]);
    const found = (await json("GET", "/v1/search?q=deno", { token: bob })).items;
    assertEquals(found.length, 1, "full-text search on the remote store");
    assert((await json("GET", "/v1/threads", { token: bob })).items.length >= 1);

    // Raw download and the attachment.
    const id = list[0].id;
    const raw = await call("GET", `/v1/messages/${id}/raw`, { token: bob });
    assertEquals(raw.status, 200);
    assertMatch(await raw.text(), /Subject: Hello from the edge/);
    const part = await call("GET", `/v1/messages/${id}/attachments/0`, { token: bob });
    assertEquals(part.status, 200);
    assertEquals(await part.text(), attachment);

    // Events as Server-Sent Events, replayed from the start.
    const events = await call("GET", "/v1/events?since=0", { token: bob });
    assertEquals(events.status, 200);
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("message.created")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += value;
    }
    await reader.cancel();
    assertMatch(seen, /event: message\.created/);

    // An API key for an application, a webhook, and a send with the key.
    const key = (await json("POST", "/v1/api-keys", {
      token,
      body: { name: "my-app", scopes: ["send"] },
    }, 201)).key;
    await json("POST", "/v1/webhooks", { token, body: { url: hookUrl } }, 201);
    const tx = await json("POST", "/v1/emails", {
      token: key,
      body: { from: ADMIN, to: [`bob@${DOMAIN}`], subject: "Receipt 1", text: "paid" },
    }, 201);
    assert(tx.emailId ?? tx.id, "the transactional send answers its id");

    // The API reference, from the bundled renderer (no file read, no CDN).
    const docs = await call("GET", "/docs");
    assertEquals(docs.status, 200);
    const asset = (await docs.text()).match(/\/docs\/assets\/scalar\.[0-9a-f]{16}\.js/)?.[0];
    assert(asset, "the docs page names its renderer");
    const renderer = await call("GET", asset);
    assertEquals(renderer.status, 200);
    assert((await renderer.arrayBuffer()).byteLength > 1_000_000, "the whole Scalar bundle");

    // Background work runs only from Deno.cron here: within a minute or two, the webhook is
    // delivered (pinned HTTP) and the message reaches remote.test over signed federation.
    await eventually("a webhook delivery", () => Promise.resolve(hooks.length > 0));
    assert(hooks.every((h) => h.signed), "Standard Webhooks signatures");
    assert(hooks.some((h) => h.type === "email.delivered"), JSON.stringify(hooks));
    await eventually("federation to remote.test", async () => {
      const res = await remote.call("GET", "/v1/messages?limit=10", { as: "bob" });
      const items = (await res.json()).items as { id: number; subject: string }[];
      return items.some((m) => m.subject === "Across");
    });
    const res = await remote.call("GET", "/v1/messages?limit=10", { as: "bob" });
    const across = ((await res.json()).items as { id: number; subject: string }[])
      .find((m) => m.subject === "Across")!;
    const detail = await (await remote.call("GET", `/v1/messages/${across.id}`, { as: "bob" }))
      .json();
    assertEquals(detail.authentication.federation.result, "pass");
    assertEquals(detail.authentication.federation.signer, DOMAIN);
    const queue = await json("GET", "/v1/queue", { token });
    assert(
      JSON.stringify(queue).includes("bob@remote.test"),
      "the outbox row is visible in the queue",
    );
    // The cron pass that sent them logs its summary when all of its steps are done, which may be
    // after the webhook and the federated message arrived: wait for it before stopping the entry.
    await eventually(
      "the cron pass's summary",
      () => Promise.resolve(listening.sofar().includes('"scheduled.pass"')),
    );
  } catch (e) {
    failure = e;
  }
  child.kill("SIGTERM");
  await child.status;
  const log = [listening.log, ...await restOfLog].join("\n");
  await front.shutdown();
  await receiver.shutdown();
  await doh.close();
  await fed.close();
  await hrana.close();
  await Deno.remove(dir, { recursive: true });
  if (failure) throw new Error(`${failure}\n--- the entry's log:\n${log.slice(-4000)}`);
  assert(log.includes('"scheduled.pass"'), `no cron pass in the log:\n${log}`);
  // Only --allow-net --allow-env were granted: any file, FFI or sys access would have been
  // refused with NotCapable and logged.
  assert(!/NotCapable|Requires (read|write|ffi|sys|run) access/.test(log), log);
  assert(!log.includes(TOKEN), "the database token is never logged");
});

Deno.test("issue17#3: the Deno Deploy entry starts again over ws:// changing nothing, answers 503 and logs why when its master key does not fit the store, and a missing setting stops it at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-deno-deploy-" });
  const hrana = startHranaServer({ db: `${dir}/remote.db`, authToken: TOKEN });
  const env = {
    POSTERN_DATABASE_URL: hrana.url,
    POSTERN_DATABASE_AUTH_TOKEN: TOKEN,
    POSTERN_HTTP_HOST: "127.0.0.1",
    POSTERN_HTTP_PORT: "0",
    POSTERN_DOMAIN: DOMAIN,
    POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  const run = async (masterKey: string, databaseUrl = hrana.url) => {
    const child = spawnEntry({
      ...env,
      POSTERN_MASTER_KEY: masterKey,
      POSTERN_DATABASE_URL: databaseUrl,
    });
    const listening = await listeningPort(child.stderr);
    const rest = listening.rest();
    const health = await fetch(`http://127.0.0.1:${listening.port}/health`);
    const body = await health.json();
    child.kill("SIGTERM");
    await child.status;
    return { status: health.status, body, log: [listening.log, ...await rest].join("\n") };
  };
  try {
    const first = await run(MASTER_KEY);
    assertEquals(first.status, 200, first.log);
    assertMatch(first.log, /"deploy\.bootstrap".*"domainCreated":true/);
    // A second isolate with the same settings, over Hrana's WebSocket: nothing to do.
    const second = await run(MASTER_KEY, hrana.url.replace(/^http/, "ws"));
    assertEquals(second.status, 200, second.log);
    assertMatch(second.log, /"deploy\.bootstrap".*"domainCreated":false,"adminCreated":false/);
    const wrong = await run("another-master-key-that-opens-nothing-0123456789");
    assertEquals(wrong.status, 503);
    assertEquals(wrong.body.code, "server_busy");
    assertMatch(wrong.log, /"deploy\.setup_failed".*master key does not open the keys/);

    const missing = spawnEntry({ ...env });
    const out = await missing.output();
    assertEquals(out.success, false, "no master key: the entry does not start");
    assertMatch(new TextDecoder().decode(out.stderr), /POSTERN_MASTER_KEY is required/);
  } finally {
    await hrana.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The MIME port `postern serve` runs (hosts/process/mime_thread.ts) against mail that stalled the
 * one it replaced: mailparser never settled its promise for a message whose top level is an
 * inline message/rfc822 part ending inside its own header block, so the MX waited for ever on its
 * MIME thread with the sender's connection open (a denial of service one DATA at a time). Now
 * the edge port reads it, and a worker call that is not answered fails that one message with a
 * temporary error (hosts/process/worker_rpc.ts) instead of hanging.
 */
import { workerRpc, WorkerTimeout } from "../../hosts/process/worker_rpc.ts";
import { createThreadedMime } from "../../hosts/process/mime_thread.ts";
import { createNodeMime } from "../../hosts/process/mime_node.ts";
import { assert, assertEquals } from "../fixtures/assert.ts";
import { LineClient } from "../fixtures/line_client.ts";
import { ALICE } from "../fixtures/app.ts";
import { startBridgeWorld } from "../fixtures/bridge.ts";
import { multipartWithAttachment } from "../fixtures/large_mail.ts";
import { freePort } from "../fixtures/postfix.ts";
import { adminToken, SERVE_ADMIN, serveChild } from "../fixtures/serve_env.ts";

/** What the SMTP client sends (test/hostile/mime_edge_test.ts has it without the final CRLF). */
const STALLER = "From: a@x.test\r\nSubject: cut\r\nContent-Type: message/rfc822\r\n" +
  "Content-Disposition: inline\r\n";

/** Fails instead of hanging (the failure this file guards against); not a timing assertion. */
function bounded<T>(what: string, work: Promise<T>, ms = 60_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

Deno.test("issue17#2: mailparser never answers for the staller message, as stored (why serve no longer uses it)", async () => {
  const raw = new TextEncoder().encode(STALLER);
  const never = Symbol("no answer");
  const answer = await Promise.race([
    createNodeMime({ simpleFirst: false }).parse(raw),
    new Promise((resolve) => setTimeout(() => resolve(never), 2000)),
  ]);
  assertEquals(answer, never, "mailparser answered: the hostile test below lost its reason");
  for (const mime of [createThreadedMime(), createThreadedMime(undefined, { handoffBytes: 0 })]) {
    try {
      const parsed = await bounded("the serve MIME port", mime.parse(raw));
      assertEquals([parsed.subject, parsed.from?.address, parsed.attachments], [
        "cut",
        "a@x.test",
        [],
      ]);
    } finally {
      mime.close();
    }
  }
});

/** Greeting to DATA's 354, for one recipient. */
async function toData(c: LineClient, rcpt: string): Promise<void> {
  assert((await c.until(/^\d{3} /)).startsWith("220"));
  for (const cmd of ["EHLO peer.remote.example", "MAIL FROM:<a@x.test>", `RCPT TO:<${rcpt}>`]) {
    assert((await c.smtp(cmd)).startsWith("250"), cmd);
  }
  assert((await c.smtp("DATA")).startsWith("354"));
}

Deno.test("issue17#2: postern serve's MX answers and stores the message mailparser never answered for", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-mime-host-" });
  const http = freePort(), smtp = freePort();
  const child = serveChild(`${dir}/data`, {
    POSTERN_HTTP_PORT: String(http),
    POSTERN_SMTP_PORT: String(smtp),
  });
  try {
    let c: LineClient | undefined;
    for (let i = 0; i < 300 && !c; i++) {
      c = await LineClient.open(smtp).catch(() => undefined);
      if (!c) await new Promise((r) => setTimeout(r, 100));
    }
    assert(c, "the MX port never opened");
    try {
      await toData(c, SERVE_ADMIN.address);
      const reply = await bounded("the MX's reply to DATA", c.smtp(STALLER + "."));
      assert(reply.startsWith("250"), reply);
      await c.write("QUIT\r\n");
    } finally {
      c.close();
    }
    const res = await fetch(`http://127.0.0.1:${http}/v1/messages?limit=5`, {
      headers: { authorization: `Bearer ${await adminToken(http)}` },
    });
    const items = (await res.json()).items as { subject: string }[];
    assertEquals(items.map((m) => m.subject), ["cut"]);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

const STUCK = new URL("../fixtures/stuck_worker.ts", import.meta.url);

Deno.test("issue17#2: a worker call never answered fails alone with a temporary error; a live worker goes on", async () => {
  const rpc = workerRpc(STUCK, "test");
  try {
    assertEquals((await rpc.call({ op: "echo" }, [], 5000)).value, 1);
    const waiting = rpc.call({ op: "wait" }, [], 500);
    // The worker answers others meanwhile: it is alive, only that one call is lost.
    assertEquals((await rpc.call({ op: "echo" }, [], 5000)).value, 3);
    assert((await waiting.catch((e) => e)) instanceof WorkerTimeout);
    assertEquals((await rpc.call({ op: "echo" }, [], 5000)).value, 4, "the same worker");
    // Unanswered with nothing else answered since: it may be stuck, a new worker takes over.
    assert((await rpc.call({ op: "wait" }, [], 200).catch((e) => e)) instanceof WorkerTimeout);
    assertEquals((await rpc.call({ op: "echo" }, [], 5000)).value, 1, "a new worker");
    assert(!rpc.broken);
  } finally {
    rpc.close();
  }
});

Deno.test("issue17#2: a worker stuck in a loop is stopped after the timeout and the next call gets a new one", async () => {
  const rpc = workerRpc(STUCK, "test");
  try {
    assertEquals((await rpc.call({ op: "echo" }, [], 5000)).value, 1);
    const spun = rpc.call({ op: "spin" }, [], 200);
    const queued = rpc.call({ op: "echo" }); // behind the loop: it fails with it
    assert((await spun.catch((e) => e)) instanceof WorkerTimeout);
    assert(/restarted/.test(String(await queued.catch((e) => e))));
    assertEquals((await rpc.call({ op: "echo" }, [], 5000)).value, 1, "a new worker");
    assert(!rpc.broken);
  } finally {
    rpc.close();
  }
});

Deno.test("issue20: postern's module graph holds no mailparser port; MIME libraries load only with SHARP", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../../main.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert(out.success, "deno info failed");
  const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; dependencies?: { specifier: string; isDynamic?: boolean }[] }[];
  };
  const files = graph.modules.map((m) => m.specifier);
  assert(files.some((f) => f.endsWith("/hosts/process/mime_thread.ts")), "the graph is serve's");
  assertEquals(files.filter((f) => /\/hosts\/process\/mime_(node|large)\.ts$/.test(f)), []);
  // Who imports mailparser or nodemailer's MIME composer, and how: a SHARP message (dynamic).
  const root = new URL("../../", import.meta.url).href;
  const importers = graph.modules.flatMap((m) =>
    (m.dependencies ?? []).filter((d) => /^mailparser$|mail-composer/.test(d.specifier))
      .map((d) => `${m.specifier.replace(root, "")} ${d.isDynamic ? "dynamic" : "static"}`)
  );
  assertEquals([...new Set(importers)].sort(), ["bridge/sharp/message.ts dynamic"]);
});

Deno.test("issue17#2: a parse the MIME worker never answers gets a temporary SMTP reply, not a held connection", async () => {
  const world = await startBridgeWorld();
  // The port serve runs, its worker replaced by one that never answers (as mailparser did).
  const mime = createThreadedMime(undefined, { timeoutMs: 300, workerUrl: STUCK });
  const deps = world.gw.deps as { mime: typeof world.gw.deps.mime };
  deps.mime = mime;
  const c = await LineClient.open(world.mxPort);
  try {
    await toData(c, ALICE.address);
    // Over HANDOFF_BYTES and not plain: this goes to the worker.
    const raw = new TextDecoder().decode(multipartWithAttachment(40_000).raw);
    const reply = await bounded("the MX's reply to DATA", c.smtp(raw + "."));
    assert(/^4\d\d /.test(reply), reply); // the sender retries; nothing is lost
    // The session goes on: the next transaction is answered too.
    assert((await c.smtp("RSET")).startsWith("250"));
  } finally {
    c.close();
    mime.close();
    await world.close();
  }
});

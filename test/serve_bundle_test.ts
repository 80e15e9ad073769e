/**
 * Issue 20 item 2 (idle memory): `deno task start` runs `postern serve` from the one-file bundle
 * scripts/build_serve.ts writes. These start that bundle as the task does and drive it through
 * its sockets: the parts that find files next to their own source (the worker threads, the API
 * reference's renderer in node_modules) must find them from inside the bundle too.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { freePort } from "./fixtures/postfix.ts";
import { python } from "./fixtures/bridge.ts";
import { adminToken, serveChild, waitFor } from "./fixtures/serve_env.ts";
import { asciiOnly, buildServe } from "../scripts/build_serve.ts";

const START_TASK: string = JSON.parse(
  await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
).tasks.start;

const SEND = `
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.sendmail("zed@remote.example", ["admin@postern.localhost"],
        "From: zed@remote.example\\r\\nTo: admin@postern.localhost\\r\\nSubject: %s\\r\\n\\r\\nhi\\r\\n" % sys.argv[2])
print("sent")
`;

Deno.test("issue20#2: the start task builds the bundle and runs serve from it", () => {
  const steps = START_TASK.split("&&").map((s) => s.trim());
  assertEquals(steps[0], "deno run -A scripts/build_serve.ts");
  assert(/ \.build\/serve\/main\.js serve --init-if-needed$/.test(steps.at(-1)!), START_TASK);
});

async function serveFromBundle(script: string, thread: boolean): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postern-serve-bundled-" });
  const http = freePort(), smtp = freePort();
  const child = serveChild(`${dir}/data`, {
    POSTERN_HTTP_PORT: String(http),
    POSTERN_SMTP_PORT: String(smtp),
    POSTERN_BRIDGE_THREAD: String(thread),
  }, { entry: ["--node-modules-dir=manual", script], stderr: "piped" });
  const stderr = new Response(child.stderr).text();
  try {
    await waitFor(async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: smtp });
      conn.close();
      return true;
    }, "the MX port");
    // SPF/DKIM/DMARC run on the mail-authentication worker thread, MIME on its own.
    assert((await python(SEND, [String(smtp), "through the bundle"])).includes("sent"));
    const res = await fetch(`http://127.0.0.1:${http}/v1/messages?limit=5`, {
      headers: { authorization: `Bearer ${await adminToken(http)}` },
    });
    const items = (await res.json()).items as { subject: string }[];
    assertEquals(items.map((m) => m.subject), ["through the bundle"]);
    // The renderer is read from node_modules beside hosts/process (503 when it is not found).
    const docs = await fetch(`http://127.0.0.1:${http}/docs`);
    await docs.body?.cancel();
    assertEquals(docs.status, 200);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* it exited by itself: its log says why */ }
    const { code } = await child.status;
    const log = await stderr;
    await Deno.remove(dir, { recursive: true });
    // A worker whose module is not found prints "Uncaught (in worker …) Module not found".
    assert(!log.includes('"level":"error"') && !log.includes("Uncaught"), log);
    assertEquals(code, 0, log);
  }
}

Deno.test("issue20#2: serve from the bundle takes SMTP mail through its worker threads and serves /docs", async (t) => {
  // Inside the project: the bundle's own imports (libsql, mailauth) resolve from node_modules.
  const out = new URL(`../.build/serve-test-${crypto.randomUUID()}`, import.meta.url).pathname;
  try {
    const { script, bundled, detail } = await buildServe({ out });
    assert(bundled, `deno bundle failed: ${detail}`);
    assert(!/[\u0080-\uffff]/.test(await Deno.readTextFile(script)), "the bundle is not ASCII");
    await t.step("bridge on the main thread", () => serveFromBundle(script, false));
    await t.step("bridge on a worker thread", () => serveFromBundle(script, true));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("issue20#2: the bundle is ASCII, so V8 holds its source at one byte a character", () => {
  assertEquals(
    asciiOnly('const r = /[€£]/u, s = "Héctor 😀";'),
    'const r = /[\\u20ac\\u00a3]/u, s = "H\\u00e9ctor \\ud83d\\ude00";',
  );
  // The escapes mean what the characters meant, in a string and in a u-flag regular expression.
  const escaped = asciiOnly('["Héctor 😀", /^[€£]😀$/u.test("£😀")]');
  assertEquals(new Function(`return ${escaped}`)(), ["Héctor 😀", true]);
});

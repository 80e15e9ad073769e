/**
 * Encryption at rest on the edge (issue 21, item 6): the gateway in the real workerd (miniflare)
 * with D1 and an R2 bucket kept in a folder. Mail that arrives through `email()` (a small message
 * in D1, one with a 1.5 MB attachment in R2) and one sent through the REST API leave no plaintext
 * of their bodies or attachments in any file of D1's or R2's storage, and read back byte-exact.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { jsonPost, startWorkerGateway, WORKER_ADMIN } from "./fixtures/worker_gateway.ts";

const marker = (what: string) => `zq${what}${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

function forms(m: string): string[] {
  const out = [m];
  for (let k = 0; k < 3; k++) out.push(btoa("\0".repeat(k) + m).slice(k === 0 ? 0 : 4, -4));
  return out;
}

/** Which of `markers` any file under `dir` holds (in any of their forms). */
async function foundUnder(dir: string, markers: string[]): Promise<string[]> {
  const found = new Set<string>();
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else if (entry.isFile) {
        const text = new TextDecoder("latin1").decode(await Deno.readFile(full));
        for (const m of markers) if (forms(m).some((f) => text.includes(f))) found.add(m);
      }
    }
  };
  await walk(dir);
  return [...found];
}

function mime(subject: string, text: string, attachment: string): Uint8Array {
  const lines = [
    "From: Zed <zed@remote.example>",
    `To: ${WORKER_ADMIN.address}`,
    `Subject: ${subject}`,
    `Message-ID: <${crypto.randomUUID()}@remote.example>`,
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain; charset=utf-8",
    "",
    text,
    "--b1",
    "Content-Type: application/octet-stream",
    'Content-Disposition: attachment; filename="big.bin"',
    "Content-Transfer-Encoding: base64",
    "",
    ...(btoa(attachment).match(/.{1,76}/g) ?? []),
    "--b1--",
    "",
  ];
  return new TextEncoder().encode(lines.join("\r\n"));
}

Deno.test("issue21#6: D1 and R2 storage of a workerd run hold no plaintext of mail received by email() or sent by REST", async () => {
  const persist = await Deno.makeTempDir({ prefix: "postern-crypt-worker-" });
  const m = {
    smallText: marker("smalltext"),
    smallFile: marker("smallfile"),
    bigText: marker("bigtext"),
    bigFile: marker("bigfile"),
    restText: marker("resttext"),
  };
  const subject = marker("subject");
  const worker = await startWorkerGateway({ assets: false, persist, r2: true });
  try {
    const login = await worker.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN));
    const token = (await login.json()).accessToken as string;
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const small = mime(subject, `hello ${m.smallText}`, `${m.smallFile} attached`);
    const big = mime("big", `large ${m.bigText}`, `${m.bigFile} `.repeat(50_000));
    assert(big.byteLength > 1_500_000);
    for (const raw of [small, big]) {
      const got = await worker.emailStream("zed@remote.example", WORKER_ADMIN.address, raw);
      assertEquals([got.outcome, got.error], ["ok", undefined]);
    }
    const sent = await worker.fetch(
      "/v1/emails",
      jsonPost({
        from: WORKER_ADMIN.address,
        to: [WORKER_ADMIN.address],
        subject: "rest",
        text: `sent ${m.restText}`,
      }, token),
    );
    assertEquals(sent.status, 201, await sent.clone().text());
    // Byte-exact back through REST raw (the received ones after their trace fields).
    const list = await (await worker.fetch("/v1/messages?limit=10", auth)).json();
    const raws = await Promise.all(
      list.items.map(async (i: { id: number }) =>
        new Uint8Array(await (await worker.fetch(`/v1/messages/${i.id}/raw`, auth)).arrayBuffer())
      ),
    );
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    for (const raw of [small, big]) {
      assert(raws.some((r) => text(r).endsWith(text(raw))), "a received message, byte-exact");
    }
    assert(raws.some((r) => text(r).includes(m.restText)), "the sent message");
    const search = await (await worker.fetch(`/v1/search?q=${m.bigText}`, auth)).json();
    assertEquals(search.items.length, 1, "search finds a sealed body's word");
    assert((await (await worker.r2()).list()).objects.length >= 1, "the large body is in R2");
  } finally {
    await worker.dispose();
  }
  try {
    assertEquals(await foundUnder(persist, Object.values(m)), [], "no plaintext in D1 or R2");
    assertEquals(await foundUnder(persist, [subject]), [subject], "header metadata stays in clear");
  } finally {
    await Deno.remove(persist, { recursive: true });
  }
});

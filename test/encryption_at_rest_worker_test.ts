/**
 * Encryption at rest on the edge (issue 21, item 6): the gateway in the real workerd (miniflare)
 * with D1 and an R2 bucket kept in a folder. Mail that arrives through `email()` (a small message
 * in D1, one with a 1.5 MB attachment in R2) and one sent through the REST API leave no plaintext
 * of their bodies or attachments in any file of D1's or R2's storage, and read back byte-exact.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { filesUnder, foundIn, marker, mimeWith } from "./fixtures/at_rest.ts";
import { jsonPost, startWorkerGateway, WORKER_ADMIN } from "./fixtures/worker_gateway.ts";

const mime = (subject: string, text: string, attachment: string) =>
  new TextEncoder().encode(mimeWith(WORKER_ADMIN.address, subject, text, attachment));

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
    assertEquals(
      await foundIn(await filesUnder(persist), Object.values(m)),
      [],
      "no plaintext in D1 or R2",
    );
    assertEquals(
      await foundIn(await filesUnder(persist), [subject]),
      [subject],
      "header metadata stays in clear",
    );
  } finally {
    await Deno.remove(persist, { recursive: true });
  }
});

/**
 * Issue 17, item 1: message bodies above the inline threshold (1 MiB) in R2, in the real workerd
 * through miniflare with a local R2 bucket bound as `BLOBS` (src/store/blob_objects.ts,
 * hosts/worker/r2_objects.ts). A multi-MB message in through `email()`, an upload and a send
 * with an attachment are each one object named by the digest of its bytes, put before the row
 * that names it; the D1 row keeps only the header block and no chunk rows; the raw download and
 * the attachment come back byte-exact from the object. Bodies stored in D1 chunk rows before the
 * bucket was bound keep reading from there, and the cron sweep leaves young objects alone.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { toBase64, toHex } from "../src/crypto.ts";
import { isSealed, SEAL_OVERHEAD } from "../src/crypt/sealed_part.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { multipartWithAttachment } from "./fixtures/large_mail.ts";
import {
  jsonPost,
  startWorkerGateway,
  WORKER_ADMIN,
  type WorkerGateway,
} from "./fixtures/worker_gateway.ts";

const hex = (bytes: Uint8Array) => toHex(sha256(bytes));

async function signIn(worker: WorkerGateway) {
  const login = await worker.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN));
  assertEquals(login.status, 200);
  const token = (await login.json()).accessToken as string;
  return { token, auth: { headers: { authorization: `Bearer ${token}` } } };
}

/** Delivers `raw` through email() and returns the new message's id. */
async function deliver(worker: WorkerGateway, auth: RequestInit, raw: Uint8Array) {
  const got = await worker.emailStream("zed@remote.example", WORKER_ADMIN.address, raw);
  assertEquals([got.outcome, got.rejectReason, got.error], ["ok", undefined, undefined]);
  const list = await (await worker.fetch("/v1/messages?limit=1", auth)).json();
  return list.items[0].id as number;
}

/** The raw download and the first attachment, checked against what was delivered. */
async function downloadsMatch(
  worker: WorkerGateway,
  auth: RequestInit,
  id: number,
  message: { raw: Uint8Array; content: Uint8Array },
): Promise<Uint8Array> {
  const res = await worker.fetch(`/v1/messages/${id}/raw`, auth);
  assertEquals(res.status, 200);
  const raw = new Uint8Array(await res.arrayBuffer());
  assertEquals(Number(res.headers.get("content-length")), raw.byteLength);
  const trace = raw.byteLength - message.raw.byteLength;
  assert(trace > 0 && trace < 8192, `trace fields of ${trace} bytes`);
  assertEquals(hex(raw.subarray(trace)), hex(message.raw), "the delivered bytes, exactly");
  const file = await worker.fetch(`/v1/messages/${id}/attachments/0`, auth);
  assertEquals(file.status, 200);
  assertEquals(hex(new Uint8Array(await file.arrayBuffer())), hex(message.content));
  return raw;
}

/** The D1 row of a blob and its chunk rows. */
async function blobRow(worker: WorkerGateway, sha: string) {
  const [row] = await worker.sql(
    `SELECT size, length(data) AS kept, (SELECT count(*) FROM blob_chunks c ` +
      `WHERE c.sha256 = b.sha256) AS chunks FROM blobs b WHERE sha256 = '${sha}'`,
  );
  return row as { size: number; kept: number; chunks: number } | undefined;
}

Deno.test("issue17#1: bodies above 1 MiB go to R2 in workerd; downloads are byte-exact", async () => {
  const worker = await startWorkerGateway({ assets: false, r2: true });
  try {
    const { token, auth } = await signIn(worker);
    const bucket = await worker.r2();

    // In through email(): 3.3 MB of message.
    const message = multipartWithAttachment(2_400_000, `r2-${crypto.randomUUID()}`);
    const id = await deliver(worker, auth, message.raw);
    const raw = await downloadsMatch(worker, auth, id, message);
    const sha = hex(raw);
    const object = await bucket.get(`blobs/${sha}`);
    assert(object, "the body is an object named by its digest");
    // Sealed at rest (the default, src/crypt/): the object holds its segments, not the bytes.
    const stored = new Uint8Array(await object.arrayBuffer());
    assert(isSealed(stored) && hex(stored) !== sha, "holding those bytes, sealed");
    const row = await blobRow(worker, sha);
    assertEquals(row?.size, raw.byteLength);
    assertEquals(row?.chunks, 0, "no chunk rows in D1");
    // The row keeps the header block only: the trace fields and the message's own headers.
    const headerEnd = new TextDecoder().decode(raw.subarray(0, 8192)).indexOf("\r\n\r\n") + 4;
    assertEquals(row?.kept, headerEnd + SEAL_OVERHEAD);

    // An upload of 1.5 MB and a send that attaches it by blobId, and one with it inline.
    const file = multipartWithAttachment(1_500_000, "unused").content;
    const up = await worker.fetch("/v1/emails/attachments", {
      method: "POST",
      headers: { "content-type": "application/octet-stream", authorization: `Bearer ${token}` },
      body: file as BodyInit,
    });
    assertEquals(up.status, 201, await up.clone().text());
    const { blobId } = await up.json();
    assert(await bucket.get(`blobs/${hex(file)}`), "the upload is an object");
    for (
      const attachment of [
        { filename: "by-id.bin", blobId },
        {
          filename: "inline.bin",
          contentType: "application/octet-stream",
          content: toBase64(file),
        },
      ]
    ) {
      const sent = await worker.fetch(
        "/v1/emails",
        jsonPost({
          from: WORKER_ADMIN.address,
          to: [WORKER_ADMIN.address],
          subject: `large send ${attachment.filename}`,
          text: "See the attachment.",
          attachments: [attachment],
        }, token),
      );
      assertEquals(sent.status, 201, await sent.clone().text());
      const list = await (await worker.fetch("/v1/messages?limit=1", auth)).json();
      const got = await worker.fetch(`/v1/messages/${list.items[0].id}/attachments/0`, auth);
      assertEquals(hex(new Uint8Array(await got.arrayBuffer())), hex(file), attachment.filename);
      const rawSent = new Uint8Array(
        await (await worker.fetch(`/v1/messages/${list.items[0].id}/raw`, auth)).arrayBuffer(),
      );
      assert(await bucket.get(`blobs/${hex(rawSent)}`), "the sent message is an object");
      assertEquals((await blobRow(worker, hex(rawSent)))?.chunks, 0);
    }
    assertEquals(await worker.sql("SELECT count(*) AS n FROM blob_chunks"), [{ n: 0 }]);

    // Every object is named by a row but one orphan (a write job that failed after its put).
    // The cron sweep (on a retention minute) keeps a young orphan, and removes it only once its
    // grace has passed, leaving every object a row names.
    const orphan = "blobs/" + "0".repeat(64);
    await bucket.put(orphan, new Uint8Array([1, 2, 3]));
    const keys = async () => (await bucket.list({ prefix: "blobs/" })).objects.map((o) => o.key);
    const before = (await keys()).sort();
    assert(before.includes(orphan) && before.length >= 4, before.join());
    const minute = Math.floor(Date.now() / 600_000) * 600_000;
    assertEquals((await worker.scheduled(minute)).outcome, "ok");
    assertEquals((await keys()).sort(), before, "a young orphan stays");
    assertEquals((await worker.scheduled(minute + 2 * 86_400_000)).outcome, "ok");
    assertEquals((await keys()).sort(), before.filter((k) => k !== orphan), "an old one goes");
  } finally {
    await worker.dispose();
  }
});

Deno.test("issue17#1: bodies kept in D1 chunk rows before R2 was bound still read byte-exact", async () => {
  const persist = await Deno.makeTempDir({ prefix: "postern-worker-r2-" });
  try {
    const message = multipartWithAttachment(2_000_000, `chunks-${crypto.randomUUID()}`);
    let worker = await startWorkerGateway({ assets: false, persist });
    let id: number;
    try {
      const { auth } = await signIn(worker);
      id = await deliver(worker, auth, message.raw);
      const [row] = await worker.sql("SELECT count(*) AS n FROM blob_chunks");
      assert(Number(row.n) >= 1, "stored in chunk rows");
    } finally {
      await worker.dispose();
    }
    worker = await startWorkerGateway({ assets: false, persist, r2: true });
    try {
      const { auth } = await signIn(worker);
      await downloadsMatch(worker, auth, id, message);
      assertEquals((await (await worker.r2()).list()).objects, [], "nothing moved to R2");
    } finally {
      await worker.dispose();
    }
  } finally {
    await Deno.remove(persist, { recursive: true });
  }
});

/**
 * Issue 17, item 5: a 25 MB message in and out of the Cloudflare Worker (hosts/worker/) in the
 * real workerd through miniflare, on local D1. Local workerd enforces no memory limit of its own
 * (before this item a 25 MB delivery took over 400 MB of the isolate's heap and went through), so
 * the test runs workerd with V8's heap capped (`--max-old-space-size`, every isolate of the
 * process): a Worker that needed more than the cap would abort workerd and fail the test. The
 * cap bounds V8's heap, not ArrayBuffers beside it; bench/worker.ts (section x) reports the peak
 * of both. Not timed.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex } from "../src/crypto.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { multipartWithAttachment } from "./fixtures/large_mail.ts";
import { jsonPost, startWorkerGateway, WORKER_ADMIN } from "./fixtures/worker_gateway.ts";

/** The heap each workerd isolate may use here, in MB: the target for a 25 MB message. */
const HEAP_CAP_MB = 100;
const V8_FLAGS = "MINIFLARE_WORKERD_V8_FLAGS";

const hex = (bytes: Uint8Array) => toHex(sha256(bytes));

Deno.test(
  "issue17#5: a 25 MB message through email() is stored once and its raw download and " +
    `attachment are byte-exact, in a workerd whose V8 heap is capped at ${HEAP_CAP_MB} MB`,
  async () => {
    const before = Deno.env.get(V8_FLAGS);
    Deno.env.set(V8_FLAGS, `--max-old-space-size=${HEAP_CAP_MB}`);
    let worker;
    try {
      worker = await startWorkerGateway({ assets: false });
    } finally {
      if (before === undefined) Deno.env.delete(V8_FLAGS);
      else Deno.env.set(V8_FLAGS, before);
    }
    try {
      const login = await worker.fetch("/v1/auth/login", jsonPost(WORKER_ADMIN));
      const token = (await login.json()).accessToken as string;
      const auth = { headers: { authorization: `Bearer ${token}` } };
      // 18.2 MB of attachment: 24.9 MB of message in base64 lines, under the 25 MiB limit.
      const message = multipartWithAttachment(18_200_000, `large-${crypto.randomUUID()}`);
      assert(message.raw.byteLength > 24_800_000);

      for (const attempt of ["first", "again (Email Routing retrying)"]) {
        const got = await worker.emailStream(
          "zed@remote.example",
          WORKER_ADMIN.address,
          message.raw,
        );
        assertEquals(
          [got.outcome, got.rejectReason, got.error],
          ["ok", undefined, undefined],
          attempt,
        );
      }
      const list = await (await worker.fetch("/v1/messages?limit=10", auth)).json();
      assertEquals(list.items.length, 1, "the retry found the stored copy");
      const id = list.items[0].id;

      // One blob of 1 MiB rows, no staging rows left behind (src/services/blob_chunks.ts).
      const blobs = await worker.sql(
        "SELECT sha256, size, (SELECT count(*) FROM blob_chunks c WHERE c.sha256 = b.sha256) " +
          "AS chunks FROM blobs b WHERE size > 1048576",
      );
      assertEquals(blobs.length, 1);
      assertEquals(blobs[0].chunks, Math.ceil(Number(blobs[0].size) / 1048576) - 1);
      assertEquals(
        await worker.sql("SELECT sha256 FROM blobs WHERE sha256 LIKE 'staging-%'"),
        [],
      );

      // The raw download: the trace fields this hop added, then the sent bytes exactly.
      const res = await worker.fetch(`/v1/messages/${id}/raw`, auth);
      assertEquals(res.status, 200);
      const raw = new Uint8Array(await res.arrayBuffer());
      assertEquals(Number(res.headers.get("content-length")), raw.byteLength);
      assertEquals(raw.byteLength, blobs[0].size);
      const trace = raw.byteLength - message.raw.byteLength;
      assert(trace > 0 && trace < 8192, `trace fields of ${trace} bytes`);
      assertEquals(hex(raw.subarray(trace)), hex(message.raw));
      assertEquals(hex(raw), blobs[0].sha256, "the blob's name is the digest of what it holds");
      const head = new TextDecoder().decode(raw.subarray(0, trace));
      assert(head.startsWith("Authentication-Results: ") && head.includes("\r\nReceived: from "));

      const file = await worker.fetch(`/v1/messages/${id}/attachments/0`, auth);
      assertEquals(file.status, 200);
      assertEquals(hex(new Uint8Array(await file.arrayBuffer())), hex(message.content));
    } finally {
      await worker.dispose();
    }
  },
);

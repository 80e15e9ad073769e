/**
 * The object-store port (src/store/blob_objects.ts) on a Cloudflare R2 bucket, the Worker's
 * `BLOBS` binding: message bodies above the inline threshold, content-addressed. Every put names
 * the SHA-256 the gateway computed, so R2 refuses bytes that arrived altered; reads are ranged
 * and streamed, so a 25 MB body leaves the Worker without being held in it; a body needed whole
 * is read into one buffer of its size.
 */
import type { BlobObjects } from "../../src/store/blob_objects.ts";

/** The part of the Workers `R2Bucket` binding used here (workers-types' shape). */
export interface R2BucketLike {
  put(
    key: string,
    value: ArrayBufferView | ArrayBuffer | ReadableStream<Uint8Array>,
    options?: { sha256?: string; httpMetadata?: { contentType?: string } },
  ): Promise<unknown>;
  get(
    key: string,
    options?: { range?: { offset: number } },
  ): Promise<{ body: ReadableStream<Uint8Array>; size: number } | null>;
  head(key: string): Promise<{ uploaded: Date } | null>;
  list(options: { prefix: string; limit: number; cursor?: string }): Promise<{
    objects: { key: string; uploaded: Date }[];
    truncated: boolean;
    cursor?: string;
  }>;
  delete(key: string): Promise<void>;
}

/** workerd's stream of a declared length, which R2 takes as a body (not in Deno's types). */
type FixedLength = new (length: number) => TransformStream<Uint8Array, Uint8Array>;
const FIXED = (globalThis as { FixedLengthStream?: FixedLength }).FixedLengthStream;
/** Bodies are handed to R2 in slices of this size. */
const PUT_SLICE = 1024 * 1024;

/**
 * `bytes` as a stream of its length, fed a slice at a time: R2 given the buffer itself copies it
 * whole on its way out of the isolate (25 MB more at the peak of a 25 MB send, measured).
 */
function sliced(bytes: Uint8Array, Fixed: FixedLength): ReadableStream<Uint8Array> {
  const { readable, writable } = new Fixed(bytes.byteLength);
  const writer = writable.getWriter();
  (async () => {
    // Each slice is copied (a write may take over its buffer, and `bytes` is used on after) into
    // one buffer used again while the writes leave it to us: a fresh copy per slice was 25 MB of
    // garbage at the peak of a 25 MB send (issue 17). workerd's write resolves once the slice
    // was read; were it ever kept past that, R2 would refuse the put (its SHA-256 is named).
    let scratch = new Uint8Array(Math.min(PUT_SLICE, bytes.byteLength));
    for (let at = 0; at < bytes.byteLength; at += PUT_SLICE) {
      if (scratch.byteLength === 0) scratch = new Uint8Array(PUT_SLICE); // taken over (detached)
      const slice = bytes.subarray(at, at + PUT_SLICE);
      const chunk = scratch.subarray(0, slice.byteLength);
      chunk.set(slice);
      await writer.write(chunk);
    }
    await writer.close();
  })().catch((error) => writer.abort(error).catch(() => {}));
  return readable;
}

export function r2Objects(bucket: R2BucketLike): BlobObjects {
  return {
    async put(key, bytes, sha256) {
      const value = FIXED && bytes.byteLength > PUT_SLICE ? sliced(bytes, FIXED) : bytes;
      try {
        await bucket.put(key, value, {
          sha256,
          httpMetadata: { contentType: "message/rfc822" },
        });
      } catch (error) {
        // A refused put may not have read the stream: end it, so its feeder does not wait on.
        if (value instanceof ReadableStream) await value.cancel(error).catch(() => {});
        throw error;
      }
    },
    async read(key, offset) {
      const object = await bucket.get(key, offset > 0 ? { range: { offset } } : undefined);
      return object?.body;
    },
    async bytes(key) {
      const object = await bucket.get(key);
      if (!object) return undefined;
      // Read into one buffer of the object's size (a BYOB reader fills it in place), so the
      // body's chunks never exist beside it: for a 25 MB body that is 25 MB less garbage in a
      // 128 MB isolate than gathering chunks (or `arrayBuffer()`, which does so inside).
      const reader = object.body.getReader({ mode: "byob" });
      let buffer = new ArrayBuffer(object.size);
      let at = 0;
      while (at < buffer.byteLength) {
        const { value, done } = await reader.read(new Uint8Array(buffer, at));
        if (value) buffer = value.buffer as ArrayBuffer, at += value.byteLength;
        if (done) break;
      }
      reader.releaseLock();
      return new Uint8Array(buffer, 0, at);
    },
    async uploadedAt(key) {
      return (await bucket.head(key))?.uploaded.getTime();
    },
    async list(prefix, limit, cursor) {
      const page = await bucket.list({ prefix, limit, ...(cursor ? { cursor } : {}) });
      return {
        objects: page.objects.map((o) => ({ key: o.key, uploaded: o.uploaded.getTime() })),
        cursor: page.truncated ? page.cursor : undefined,
      };
    },
    async delete(key) {
      await bucket.delete(key);
    },
  };
}

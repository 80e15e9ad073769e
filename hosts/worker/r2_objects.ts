/**
 * The object-store port (src/store/blob_objects.ts) on a Cloudflare R2 bucket, the Worker's
 * `BLOBS` binding: message bodies above the inline threshold, content-addressed. Every put names
 * the SHA-256 the gateway computed, so R2 refuses bytes that arrived altered; reads are ranged
 * and streamed, so a 25 MB body leaves the Worker without being held in it.
 */
import type { BlobObjects } from "../../src/store/blob_objects.ts";

/** The part of the Workers `R2Bucket` binding used here (workers-types' shape). */
export interface R2BucketLike {
  put(
    key: string,
    value: ArrayBufferView | ArrayBuffer,
    options?: { sha256?: string; httpMetadata?: { contentType?: string } },
  ): Promise<unknown>;
  get(
    key: string,
    options?: { range?: { offset: number } },
  ): Promise<{ body: ReadableStream<Uint8Array>; arrayBuffer(): Promise<ArrayBuffer> } | null>;
  head(key: string): Promise<{ uploaded: Date } | null>;
  list(options: { prefix: string; limit: number; cursor?: string }): Promise<{
    objects: { key: string; uploaded: Date }[];
    truncated: boolean;
    cursor?: string;
  }>;
  delete(key: string): Promise<void>;
}

export function r2Objects(bucket: R2BucketLike): BlobObjects {
  return {
    async put(key, bytes, sha256) {
      await bucket.put(key, bytes, {
        sha256,
        httpMetadata: { contentType: "message/rfc822" },
      });
    },
    async read(key, offset) {
      const object = await bucket.get(key, offset > 0 ? { range: { offset } } : undefined);
      return object?.body;
    },
    async bytes(key) {
      const object = await bucket.get(key);
      return object ? new Uint8Array(await object.arrayBuffer()) : undefined;
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

/**
 * The object-store port for message bodies above the inline threshold (DESIGN.md, "Storage and
 * scale": bodies above a threshold go to a blob store, R2 at the edge). A host that has one (the
 * Worker's R2 binding `BLOBS`, hosts/worker/r2_objects.ts) hands it to its Store; without one,
 * large bodies stay in the store's chunk rows (services/blob_chunks.ts).
 *
 * Objects are content-addressed (`blobs/<sha256 hex>`) and immutable: an object always holds the
 * blob's whole content, whatever part of it the `blobs` row keeps, so a read takes "the octets
 * after the row's own" from it by a range. The rules that keep "never a row without its object":
 * the object is put (and acknowledged) before the write job that commits its row, a writer puts
 * again even when the object may exist (which renews its upload time), and the sweep
 * (`sweepObjects`) removes only objects that no row names and that were last put longer ago than
 * a grace period far beyond any write job.
 */

/** What the gateway needs of an object store (a Cloudflare R2 bucket has all of it). */
export interface BlobObjects {
  /** Stores `bytes` under `key`, verified by the store against `sha256` (hex). */
  put(key: string, bytes: Uint8Array, sha256: string): Promise<void>;
  /** The object's octets from `offset` to its end, streamed; undefined when there is none. */
  read(key: string, offset: number): Promise<ReadableStream<Uint8Array> | undefined>;
  /** The whole object in one buffer (one allocation of its size); undefined when there is none. */
  bytes(key: string): Promise<Uint8Array | undefined>;
  /** When the object was last put (ms since the epoch), or undefined when there is none. */
  uploadedAt(key: string): Promise<number | undefined>;
  /** One page of keys under `prefix`, in order, after `cursor`; `cursor` for the next page. */
  list(prefix: string, limit: number, cursor?: string): Promise<{
    objects: { key: string; uploaded: number }[];
    cursor?: string;
  }>;
  delete(key: string): Promise<void>;
}

/** Where a blob's object lives. */
export const objectKey = (sha256: string) => `blobs/${sha256}`;

const PREFIX = "blobs/";

/**
 * Objects younger than this are never swept: the longest a write job can take between putting
 * its object and committing its row is far below it (a request's or a cron run's limit).
 */
export const OBJECT_GRACE_MS = 24 * 3600_000;

/**
 * One bounded pass of the orphan sweep: up to `limit` objects from `cursor` on, each removed
 * when no `blobs` row names its digest (`rowExists`) and its last put is older than the grace
 * period, read again just before the delete so that a writer who put it meanwhile keeps it.
 * Returns the cursor to continue from (undefined: the listing came to its end).
 */
export async function sweepObjects(
  objects: BlobObjects,
  rowExists: (sha256s: string[]) => Promise<Set<string>>,
  options: { now: number; limit: number; cursor?: string },
): Promise<{ checked: number; deleted: number; cursor?: string }> {
  const page = await objects.list(PREFIX, options.limit, options.cursor);
  const old = page.objects.filter((o) => o.uploaded < options.now - OBJECT_GRACE_MS);
  const named = await rowExists(old.map((o) => o.key.slice(PREFIX.length)));
  let deleted = 0;
  for (const object of old) {
    if (named.has(object.key.slice(PREFIX.length))) continue;
    const uploaded = await objects.uploadedAt(object.key);
    if (uploaded === undefined || uploaded >= options.now - OBJECT_GRACE_MS) continue;
    await objects.delete(object.key);
    deleted++;
  }
  return { checked: page.objects.length, deleted, cursor: page.cursor };
}

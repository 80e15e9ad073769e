/**
 * Raw messages larger than one chunk are stored in rows of at most BLOB_CHUNK_BYTES (issue 15,
 * item 7): the first chunk in `blobs.data`, where header reads find it, the rest in `blob_chunks`
 * by sequence. D1 refuses rows of 2 MB or more and a 25 MB message is allowed, so one row per
 * message cannot hold it; SQLite also writes a 1 MiB row through its page cache in one piece
 * rather than keeping a 25 MB value bound to a cached statement. The chunks go in the same write
 * transaction as the `blobs` row, so a blob is never seen half-stored; deleting the `blobs` row
 * removes its chunks (ON DELETE CASCADE).
 *
 * Where the host has an object store (R2 in a Worker: store/blob_objects.ts), a body above the
 * inline threshold (one chunk) goes there whole instead, put before the write job that commits
 * its `blobs` row; the row keeps only the header block (headers are still read from the row)
 * and no chunks; reads take the object whole (`blobBytes`) or, streamed, the octets after the
 * row's own by a range (`blobStream`).
 * D1 hands blob columns over as arrays of numbers and binds them as JSON, so every MiB kept out
 * of it saves seconds and tens of MB of a Worker's memory.
 */
import { type BlobObjects, objectKey } from "../store/blob_objects.ts";
import {
  blobObjectsOf,
  type Queryable,
  rawSql,
  type Statement,
  type Store,
} from "../store/store.ts";

export const BLOB_CHUNK_BYTES = 1024 * 1024;

/**
 * SQL over a `blobs` row: nothing refers to it any more, so it may go (with its chunks) — no
 * message's raw bytes, no deleted message kept for recovery (`recoverable_messages`), no queued
 * outbox row, no upload, no large draft's request
 * (`messages.draft_sha256`), no webhook delivery that has yet to post it as its raw copy
 * (`tx_webhook_deliveries.raw_sha256`). `except` leaves out the draft rows or the deliveries a
 * job is deleting in the same batch (SQL over that table's row, e.g. `AND id NOT IN …`).
 */
export function blobUnused(except: { drafts?: string; deliveries?: string } = {}): string {
  return `NOT EXISTS (SELECT 1 FROM messages WHERE blob_sha256 = blobs.sha256)
  AND NOT EXISTS (SELECT 1 FROM outbox WHERE blob_sha256 = blobs.sha256)
  AND NOT EXISTS (SELECT 1 FROM uploads WHERE blob_sha256 = blobs.sha256)
  AND NOT EXISTS (SELECT 1 FROM recoverable_messages WHERE blob_sha256 = blobs.sha256)
  AND NOT EXISTS (SELECT 1 FROM messages WHERE draft_sha256 = blobs.sha256 ${except.drafts ?? ""})
  AND NOT EXISTS (SELECT 1 FROM tx_webhook_deliveries WHERE raw_sha256 = blobs.sha256
    AND state IN ('pending', 'delivering') ${except.deliveries ?? ""})`;
}

/** `blobUnused()` with nothing left out. */
export const BLOB_UNUSED = blobUnused();

/**
 * The statements that store `raw` as the blob `sha256`, for a one-round-trip write job: the
 * `blobs` row (with the first chunk) unless the same content is stored already, then each
 * further chunk. A chunk goes in only while the `blobs` row is a chunked one (its data shorter
 * than its size): same digest, same bytes, so an existing blob already has its chunks, and one
 * stored whole before chunking existed needs none.
 */
export function blobStatements(raw: Uint8Array, sha256: string): Statement[] {
  const first = raw.byteLength > BLOB_CHUNK_BYTES ? raw.subarray(0, BLOB_CHUNK_BYTES) : raw;
  const statements: Statement[] = [{
    sql: "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
    args: [sha256, raw.byteLength, first],
  }];
  for (let seq = 1, at = BLOB_CHUNK_BYTES; at < raw.byteLength; seq++, at += BLOB_CHUNK_BYTES) {
    statements.push({
      sql: "INSERT INTO blob_chunks (sha256, seq, data) SELECT ?1, ?2, ?3 WHERE EXISTS " +
        "(SELECT 1 FROM blobs WHERE sha256 = ?1 AND length(data) < size) ON CONFLICT DO NOTHING",
      args: [sha256, seq, raw.subarray(at, at + BLOB_CHUNK_BYTES)],
    });
  }
  return statements;
}

/** The statements that store a blob in a write job, and how to drop what was staged for it. */
export interface BlobJob {
  statements: Statement[];
  /** Removes the staged chunks when the job did not commit (a no-op when nothing was staged). */
  discard(): Promise<void>;
}

/**
 * `blobStatements` for a write job on `store`, with a large blob's chunks written ahead on D1.
 * The D1 binding turns every bound byte into an element of a JavaScript array and the batch into
 * JSON (workerd's d1-api `bind()`), several times the chunk's size each: a 25 MB message bound in
 * one batch took over 400 MB of a Worker's 128 MB. So on D1 each further chunk is written in a
 * batch of its own under a staging `blobs` row (one chunk's copies in memory at a time), and the
 * job itself binds only the first chunk and moves the staged chunks to the blob in SQL: the blob
 * still appears whole in one commit, and a job that fails leaves a staging row that nothing
 * refers to (`discard`, else the unused-blob sweep, removes it).
 */
export async function blobJob(store: Store, raw: Uint8Array, sha256: string): Promise<BlobJob> {
  if (raw.byteLength > BLOB_CHUNK_BYTES && store.objects) {
    return await objectJob(store.objects, raw, sha256);
  }
  if (raw.byteLength <= BLOB_CHUNK_BYTES || store.client.protocol !== "d1") {
    return { statements: blobStatements(raw, sha256), discard: () => Promise.resolve() };
  }
  const staging = `staging-${crypto.randomUUID()}`;
  await store.batch([{
    sql: "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, x'')",
    args: [staging, raw.byteLength],
  }]);
  const discard = async () => {
    await store.batch([
      { sql: "DELETE FROM blob_chunks WHERE sha256 = ?", args: [staging] },
      { sql: "DELETE FROM blobs WHERE sha256 = ?", args: [staging] },
    ]);
  };
  try {
    for (let seq = 1, at = BLOB_CHUNK_BYTES; at < raw.byteLength; seq++, at += BLOB_CHUNK_BYTES) {
      await store.batch([{
        sql: "INSERT INTO blob_chunks (sha256, seq, data) VALUES (?, ?, ?)",
        args: [staging, seq, raw.subarray(at, at + BLOB_CHUNK_BYTES)],
      }]);
    }
  } catch (error) {
    await discard().catch(() => {});
    throw error;
  }
  const [first] = blobStatements(raw.subarray(0, BLOB_CHUNK_BYTES), sha256);
  return {
    statements: [
      { ...first, args: [sha256, raw.byteLength, raw.subarray(0, BLOB_CHUNK_BYTES)] },
      // Only into a chunked blob without its chunks (same digest, same bytes otherwise); the
      // uncorrelated subqueries are evaluated once, before any row moves.
      {
        sql: "UPDATE blob_chunks SET sha256 = ?1 WHERE sha256 = ?2 AND EXISTS " +
          "(SELECT 1 FROM blobs WHERE sha256 = ?1 AND length(data) < size) AND NOT EXISTS " +
          "(SELECT 1 FROM blob_chunks WHERE sha256 = ?1)",
        args: [sha256, staging],
      },
      { sql: "DELETE FROM blob_chunks WHERE sha256 = ?", args: [staging] },
      { sql: "DELETE FROM blobs WHERE sha256 = ?", args: [staging] },
    ],
    discard,
  };
}

/**
 * The header block of `raw` (through its first empty line), at most one chunk: what a row of a
 * blob kept in the object store holds, so header reads (mail_access_raw.ts, bounce messages)
 * find it as they find a chunked blob's first chunk.
 */
function headerPrefix(raw: Uint8Array): Uint8Array {
  const end = Math.min(raw.byteLength, BLOB_CHUNK_BYTES);
  for (let i = 0; i < end; i++) {
    if (raw[i] !== 10) continue;
    if (raw[i + 1] === 10) return raw.subarray(0, i + 2);
    if (raw[i + 1] === 13 && raw[i + 2] === 10) return raw.subarray(0, i + 3);
  }
  return raw.subarray(0, end);
}

/**
 * A large blob for a store with an object store: the object is put first (always, even when it
 * may exist: that renews its upload time, which the orphan sweep respects), and the job's one
 * statement commits the row that names it. A job that fails leaves an object no row names,
 * which the sweep removes later; never a row without its object.
 */
async function objectJob(objects: BlobObjects, raw: Uint8Array, sha256: string): Promise<BlobJob> {
  await objects.put(objectKey(sha256), raw, sha256);
  return {
    statements: [{
      sql: "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) " +
        "ON CONFLICT (sha256) DO NOTHING",
      args: [sha256, raw.byteLength, headerPrefix(raw)],
    }],
    discard: () => Promise.resolve(),
  };
}

/**
 * The octets of a blob after the row's own `from` from its object, or undefined when the store
 * has no object store or no object for it (a blob stored in chunk rows).
 */
async function objectRest(db: Queryable, sha256: string, from: number) {
  const objects = blobObjectsOf(db);
  return objects ? await objects.read(objectKey(sha256), from) : undefined;
}

/** A blob column's value as bytes (the libSQL clients give Uint8Array or ArrayBuffer). */
export function bytesOf(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(0);
}

/** Chunk `seq` of a large blob (1 for the octets after the first), or undefined. */
async function chunkOf(db: Queryable, sha256: string, seq: number) {
  const [chunk] = await rawSql(db).all<{ data: unknown }>(
    "SELECT data FROM blob_chunks WHERE sha256 = ? AND seq = ?",
    [sha256, seq],
  );
  return chunk ? bytesOf(chunk.data) : undefined;
}

/**
 * A blob's whole content from its `blobs` row (`data` is the first chunk of a large one): the
 * row's own bytes when they are all of it, else joined with its chunks, in one buffer. The
 * chunks are read one query each: D1 hands a blob over as a JavaScript array of byte values,
 * several times its size, so reading them all at once would hold that for every chunk.
 */
export async function blobBytes(
  db: Queryable,
  row: { sha256: string; size: number; data: unknown },
): Promise<Uint8Array> {
  const first = bytesOf(row.data);
  if (first.byteLength >= row.size) return first;
  // The object holds the whole content: read in one buffer, no chunks to gather and join (which
  // left as much again of garbage in a Worker).
  const whole = await blobObjectsOf(db)?.bytes(objectKey(row.sha256));
  if (whole) {
    if (whole.byteLength !== row.size) throw new Error(`blob ${row.sha256}: its object differs`);
    return whole;
  }
  const out = new Uint8Array(row.size);
  out.set(first);
  let at = first.byteLength;
  for (let seq = 1; at < row.size; seq++) {
    const bytes = await chunkOf(db, row.sha256, seq);
    if (!bytes) break;
    out.set(bytes.subarray(0, row.size - at), at);
    at += bytes.byteLength;
  }
  if (at !== row.size) throw new Error(`blob ${row.sha256} is missing chunks`);
  return out;
}

/**
 * A blob's content as a stream, one chunk read from the store per pull: a 25 MB message goes
 * out with at most one chunk of it in memory (issue 17, item 5). A chunk missing (the blob was
 * purged meanwhile) errors the stream, so the download ends short rather than wrong.
 */
export function blobStream(
  db: Queryable,
  row: { sha256: string; size: number; data: unknown },
): ReadableStream<Uint8Array> {
  let seq = 0;
  let at = 0;
  /** The object's reader once the row's own octets are out, null when there is no object. */
  let object: ReadableStreamDefaultReader<Uint8Array> | null | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (seq > 0 && object === undefined) {
        object = (await objectRest(db, row.sha256, at))?.getReader() ?? null;
      }
      let bytes: Uint8Array | undefined;
      if (seq === 0) bytes = bytesOf(row.data);
      else if (object) {
        const next = await object.read();
        bytes = next.done ? undefined : next.value;
      } else bytes = await chunkOf(db, row.sha256, seq);
      seq++;
      if (!bytes) {
        controller.error(new Error(`blob ${row.sha256} is missing chunks`));
        return;
      }
      const part = bytes.subarray(0, row.size - at);
      at += part.byteLength;
      if (part.byteLength > 0) controller.enqueue(part);
      if (at >= row.size) {
        controller.close();
        await object?.cancel().catch(() => {});
      }
    },
    async cancel(reason) {
      await object?.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

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
import { type DataKey, isSealed } from "../crypt/sealed_part.ts";
import {
  openBlobPart,
  openObject,
  openObjectStream,
  PART_BYTES,
  sealBlobParts,
  sealObject,
} from "../crypt/sealed_blob.ts";
import { sha256Hex } from "../crypto.ts";
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
  const parts: Uint8Array[] = [];
  for (let at = 0; at === 0 || at < raw.byteLength; at += BLOB_CHUNK_BYTES) {
    parts.push(raw.subarray(at, at + BLOB_CHUNK_BYTES));
  }
  return partStatements(parts, raw.byteLength, sha256);
}

/**
 * The statements of `blobStatements` for a blob already cut into its stored parts (the row's
 * data, then each chunk): plain slices, or sealed parts (crypt/sealed_blob.ts), which obey the
 * same "data shorter than size: chunked" rule.
 */
function partStatements(parts: Uint8Array[], size: number, sha256: string): Statement[] {
  const statements: Statement[] = [{
    sql: "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
    args: [sha256, size, parts[0]],
  }];
  for (let seq = 1; seq < parts.length; seq++) {
    statements.push({
      sql: "INSERT INTO blob_chunks (sha256, seq, data) SELECT ?1, ?2, ?3 WHERE EXISTS " +
        "(SELECT 1 FROM blobs WHERE sha256 = ?1 AND length(data) < size) ON CONFLICT DO NOTHING",
      args: [sha256, seq, parts[seq]],
    });
  }
  return statements;
}

/**
 * The key a new blob of `owner` is sealed under, or undefined when the store seals nothing new
 * (no vault, or encryption at rest turned off): see crypt/vault.ts.
 */
async function sealingKey(store: Store, owner: number): Promise<DataKey | undefined> {
  return store.vault?.sealNew ? await store.vault.activeKey(owner) : undefined;
}

/**
 * `blobStatements`, sealed under `owner`'s data key when the store encrypts at rest: for a write
 * job that cannot take `blobJob` (it runs on a transaction's statements).
 */
export async function ownedBlobStatements(
  store: Store,
  owner: number,
  raw: Uint8Array,
  sha256: string,
): Promise<Statement[]> {
  const key = await sealingKey(store, owner);
  if (!key) return blobStatements(raw, sha256);
  return partStatements(await sealBlobParts(key, raw, sha256), raw.byteLength, sha256);
}

/**
 * The statements that re-seal a stored blob under `key` (crypt/rotation.ts): its row's data
 * replaced and its chunks written again, all guarded by the row still holding `oldFirst` (a
 * concurrent rewrite wins). With an object store, a large blob's object is put again first.
 */
export async function resealStatements(
  store: Store,
  key: DataKey,
  raw: Uint8Array,
  sha256: string,
  oldFirst: Uint8Array,
): Promise<Statement[]> {
  const [insert, ...chunks] = raw.byteLength > BLOB_CHUNK_BYTES && store.objects
    ? (await objectJob(store.objects, raw, sha256, key)).statements
    : partStatements(await sealBlobParts(key, raw, sha256), raw.byteLength, sha256);
  return [
    {
      sql: "DELETE FROM blob_chunks WHERE sha256 = ?1 AND EXISTS " +
        "(SELECT 1 FROM blobs WHERE sha256 = ?1 AND data = ?2)",
      args: [sha256, oldFirst],
    },
    {
      sql: "UPDATE blobs SET data = ? WHERE sha256 = ? AND data = ?",
      args: [insert.args![2], sha256, oldFirst],
    },
    ...chunks,
  ];
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
export async function blobJob(
  store: Store,
  raw: Uint8Array,
  sha256: string,
  /** The account whose data key seals it (crypt/vault.ts); the server's own when none. */
  owner = 0,
): Promise<BlobJob> {
  const key = await sealingKey(store, owner);
  if (raw.byteLength > BLOB_CHUNK_BYTES && store.objects) {
    return await objectJob(store.objects, raw, sha256, key);
  }
  const parts = key ? await sealBlobParts(key, raw, sha256) : undefined;
  if (raw.byteLength <= BLOB_CHUNK_BYTES || store.client.protocol !== "d1") {
    return {
      statements: parts
        ? partStatements(parts, raw.byteLength, sha256)
        : blobStatements(raw, sha256),
      discard: () => Promise.resolve(),
    };
  }
  const chunks: Uint8Array[] = parts ?? [];
  if (!parts) {
    for (let at = 0; at < raw.byteLength; at += BLOB_CHUNK_BYTES) {
      chunks.push(raw.subarray(at, at + BLOB_CHUNK_BYTES));
    }
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
    for (let seq = 1; seq < chunks.length; seq++) {
      await store.batch([{
        sql: "INSERT INTO blob_chunks (sha256, seq, data) VALUES (?, ?, ?)",
        args: [staging, seq, chunks[seq]],
      }]);
    }
  } catch (error) {
    await discard().catch(() => {});
    throw error;
  }
  const [first] = partStatements(chunks.slice(0, 1), raw.byteLength, sha256);
  return {
    statements: [
      first,
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
async function objectJob(
  objects: BlobObjects,
  raw: Uint8Array,
  sha256: string,
  key: DataKey | undefined,
): Promise<BlobJob> {
  // Sealed, the object is its segments (crypt/sealed_blob.ts), verified by their own digest.
  const object = key ? await sealObject(key, raw, sha256) : raw;
  await objects.put(objectKey(sha256), object, key ? await sha256Hex(object) : sha256);
  // A sealed row holds one part: a header block longer than that is cut (reads of the whole
  // blob take the object; the header reads of a bounce then see its first PART_BYTES).
  const head = key ? headerPrefix(raw).subarray(0, PART_BYTES) : headerPrefix(raw);
  return {
    statements: [{
      sql: "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?) " +
        "ON CONFLICT (sha256) DO NOTHING",
      args: [
        sha256,
        raw.byteLength,
        key ? (await sealBlobParts(key, head, sha256))[0] : head,
      ],
    }],
    discard: () => Promise.resolve(),
  };
}

/**
 * The octets of a blob after the row's own `from` from its object, or undefined when the store
 * has no object store or no object for it (a blob stored in chunk rows).
 */
async function objectRest(db: Queryable, sha256: string, from: number, sealed: boolean) {
  const objects = blobObjectsOf(db);
  if (!objects) return undefined;
  const key = objectKey(sha256);
  if (!sealed) return await objects.read(key, from);
  // Sealed: read from the segment `from` falls in, opened one segment per pull; undefined (no
  // object: the blob is in chunk rows) when the object store has none.
  if (await objects.uploadedAt(key) === undefined) return undefined;
  return openObjectStream(db, sha256, from, (offset) => objects.read(key, offset));
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
  return chunk ? await openBlobPart(db, sha256, seq, bytesOf(chunk.data)) : undefined;
}

/**
 * The plaintext of a `blobs` row's own data (its first part): the row's bytes, or opened with
 * the data key they name when sealed (crypt/sealed_blob.ts). Every header read goes through it.
 */
export async function firstPart(
  db: Queryable,
  row: { sha256: string; data: unknown },
): Promise<Uint8Array> {
  return await openBlobPart(db, row.sha256, 0, bytesOf(row.data));
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
  /** The row's data opened already (the caller tried `openBlobPartNow`), if it was. */
  opened?: Uint8Array,
): Promise<Uint8Array> {
  const first = opened ?? await firstPart(db, row);
  if (first.byteLength >= row.size) return first;
  // The object holds the whole content: read in one buffer, no chunks to gather and join (which
  // left as much again of garbage in a Worker).
  const stored = await blobObjectsOf(db)?.bytes(objectKey(row.sha256));
  const whole = stored && await openObject(db, row.sha256, stored, row.size);
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
  /** Whether the row's data is sealed: then so is its object (crypt/sealed_blob.ts). */
  let sealed = false;
  /** The object's reader once the row's own octets are out, null when there is no object. */
  let object: ReadableStreamDefaultReader<Uint8Array> | null | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (seq > 0 && object === undefined) {
        object = (await objectRest(db, row.sha256, at, sealed))?.getReader() ?? null;
      }
      let bytes: Uint8Array | undefined;
      if (seq === 0) {
        const data = bytesOf(row.data);
        sealed = isSealed(data);
        bytes = await firstPart(db, row);
      } else if (object) {
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

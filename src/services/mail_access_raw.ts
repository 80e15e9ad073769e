/**
 * Many messages' bytes in one response and their MIME structure. Raw bodies (IMAP BODY[],
 * RFC822, POP3 RETR) or header blocks (BODY[HEADER], TOP n 0) stream out as binary frames
 * (schemas/mail_access.ts `RAW_FRAMES_TYPE`), read from the store a few blobs at a time so a
 * large set never sits in memory at once. Structures (BODYSTRUCTURE, ENVELOPE, BODY[section]
 * offsets) are parsed once per blob on first request and kept in `mime_structures`.
 */
import { and, eq, sql } from "drizzle-orm";
import { type MimeStructure, parseMimeStructure } from "../../schemas/mime_structure.ts";
import type { Deps } from "../deps.ts";
import type { Queryable } from "../store/store.ts";
import { rawSql, schema } from "../store/store.ts";
import { highestUid, rowsInSet, UidMatcher } from "./mail_access.ts";
import { requireMailbox } from "./mailboxes.ts";
import { blobBytes, bytesOf, firstPart } from "./blob_chunks.ts";
import { isSealed, MAGIC_SQL } from "../crypt/sealed_part.ts";
import { openBlobPartNow } from "../crypt/sealed_blob.ts";
import { inList } from "../store/in_list.ts";

/** Bump when parseMimeStructure's output changes: old rows are then recomputed. */
export const STRUCTURE_VERSION = 1;
/** Blobs read per store query while streaming. */
const BLOBS_PER_READ = 32;

/** The header block: up to and including the first empty line (CRLF or bare LF endings). */
export function headerBlock(raw: Uint8Array): Uint8Array {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 10) continue;
    if (raw[i + 1] === 10) return raw.subarray(0, i + 2);
    if (raw[i + 1] === 13 && raw[i + 2] === 10) return raw.subarray(0, i + 3);
  }
  return raw;
}

/** A header read's row data as plaintext: cut by SQL when plain, opened here when sealed. */
async function headerOf(db: Queryable, row: { sha256: string; data: unknown }) {
  const data = bytesOf(row.data);
  return isSealed(data) ? headerBlock(await firstPart(db, row)) : data;
}

async function readBlobs(db: Queryable, shas: string[], part: "full" | "header") {
  const b = schema.blobs;
  // For headers, let SQLite cut at the first CRLFCRLF so whole bodies never leave the store
  // (a sealed row comes whole, to be opened and cut here).
  const data = part === "full"
    ? b.data
    : sql`CASE WHEN substr(${b.data}, 1, 8) = ${
      sql.raw(MAGIC_SQL)
    } THEN ${b.data} WHEN instr(${b.data}, x'0d0a0d0a') > 0
        THEN substr(${b.data}, 1, instr(${b.data}, x'0d0a0d0a') + 3) ELSE ${b.data} END`;
  const rows = await db.select({ sha: b.sha256, size: b.size, data }).from(b)
    .where(inList(b.sha256, shas));
  const out = new Map<string, Uint8Array>();
  for (const r of rows) {
    // A large blob's headers are in its first chunk; its whole content needs the others.
    out.set(
      r.sha,
      part === "full"
        ? await blobBytes(db, { sha256: r.sha, size: r.size, data: r.data })
        : await headerOf(db, { sha256: r.sha, data: r.data }),
    );
  }
  return out;
}

/**
 * A frame's bytes from its joined row: the header block (cut by SQL when plain) or the whole
 * message, a promise only when its first part does not open on this thread or the blob has
 * further chunks.
 */
function frameBody(
  db: Queryable,
  row: { sha: string; size: number; data: unknown },
  part: "full" | "header",
): Uint8Array | Promise<Uint8Array> {
  const size = Number(row.size);
  const whole = (first: Uint8Array) =>
    part === "header" ? headerBlock(first) : first.byteLength >= size
      ? first
      // A large blob's first chunk is in the row; the rest in blob_chunks (or its object).
      : blobBytes(db, { sha256: row.sha, size, data: row.data }, first);
  const first = openBlobPartNow(db, row.sha, 0, bytesOf(row.data));
  return first instanceof Promise ? first.then(whole) : whole(first);
}

/** Messages read per store query while streaming frames (about 128 KB of typical mail). */
const FRAMES_PER_READ = 64;

/**
 * The frames of the set's messages, ascending by UID; checked (mailbox ownership, UID set)
 * before the stream starts, so errors are still problem+json. The set's UIDs come first from the
 * UID index alone (no message row is read), then each page of FRAMES_PER_READ messages is one
 * join of messages and blobs — one fixed statement, the page's UIDs as one JSON parameter — and
 * goes out as one chunk: per message no query, no query building and no separate small buffer.
 */
export async function rawFrames(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  uids: string,
  part: "full" | "header",
): Promise<ReadableStream<Uint8Array>> {
  const db = deps.store.db;
  const raw = rawSql(db);
  const [, highest] = await Promise.all([
    requireMailbox(db, accountId, mailboxId),
    highestUid(db, mailboxId),
  ]);
  const matcher = new UidMatcher(uids, highest);
  const [present] = await raw.all<{ j: string | null }>(
    `SELECT json_group_array(uid) AS j FROM (SELECT uid FROM messages WHERE mailbox_id = ?
      AND +account_id = ? AND uid BETWEEN ? AND ? ORDER BY uid)`,
    [mailboxId, accountId, matcher.min, matcher.max],
  );
  const wanted = (JSON.parse(present?.j ?? "[]") as number[]).filter((u) => matcher.has(u));
  // For headers, let SQLite cut at the first CRLFCRLF so whole bodies never leave the store.
  const data = part === "full" ? "b.data" : `CASE WHEN substr(b.data, 1, 8) = ${MAGIC_SQL}
    THEN b.data WHEN instr(b.data, x'0d0a0d0a') > 0
    THEN substr(b.data, 1, instr(b.data, x'0d0a0d0a') + 3) ELSE b.data END`;
  const query = `SELECT m.uid AS uid, b.sha256 AS sha, b.size AS size, ${data} AS data
    FROM messages m JOIN blobs b ON b.sha256 = m.blob_sha256
    WHERE m.mailbox_id = ? AND +m.account_id = ? AND m.uid IN (SELECT value FROM json_each(?))
    ORDER BY m.uid`;
  let at = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let rows: { uid: number; sha: string; size: number; data: unknown }[] = [];
      // A page whose messages were all expunged meanwhile enqueues nothing: read the next one
      // (a pull that enqueues nothing would leave the reader waiting for good).
      while (rows.length === 0) {
        if (at >= wanted.length) {
          controller.close();
          return;
        }
        const page = wanted.slice(at, at + FRAMES_PER_READ);
        at += page.length;
        // Expunged or purged meanwhile: simply absent, as an expunged UID would be.
        rows = await raw.all(query, [mailboxId, accountId, JSON.stringify(page)]);
      }
      // Each body opens on this thread when it can (one part, its key loaded, a native AES-GCM:
      // crypt/native_aead.ts); the rest (Web Crypto, chunked blobs) are awaited together.
      const opened = rows.map((row) => frameBody(db, row, part));
      const bodies = opened.some((b) => b instanceof Promise)
        ? await Promise.all(opened)
        : opened as Uint8Array[];
      let total = 0;
      for (const bytes of bodies) total += 8 + bytes.byteLength;
      const out = new Uint8Array(total);
      const view = new DataView(out.buffer);
      let o = 0;
      for (let i = 0; i < rows.length; i++) {
        const bytes = bodies[i];
        view.setUint32(o, Number(rows[i].uid));
        view.setUint32(o + 4, bytes.byteLength);
        out.set(bytes, o + 8);
        o += 8 + bytes.byteLength;
      }
      controller.enqueue(out);
    },
  });
}

/**
 * Most bytes of structures bound as one parameter: Cloudflare D1 refuses a value (and a row) of
 * 2 MB or more (issue 16, item 4). A structure larger than this alone (a message of thousands of
 * parts) is not kept: it is a cache, computed again when asked for.
 */
const STRUCTURES_PER_VALUE = 512 * 1024;

/** `[sha, json]` pairs as JSON arrays of at most STRUCTURES_PER_VALUE bytes each. */
function structureSlices(computed: { sha: string; structure: MimeStructure }[]): string[] {
  const encoder = new TextEncoder();
  const out: string[] = [];
  let slice: string[] = [];
  let bytes = 0;
  for (const c of computed) {
    const entry = JSON.stringify([c.sha, JSON.stringify(c.structure)]);
    const size = encoder.encode(entry).byteLength + 1;
    if (size > STRUCTURES_PER_VALUE) continue;
    if (bytes + size > STRUCTURES_PER_VALUE) {
      out.push(`[${slice.join(",")}]`);
      slice = [];
      bytes = 0;
    }
    slice.push(entry);
    bytes += size;
  }
  if (slice.length > 0) out.push(`[${slice.join(",")}]`);
  return out;
}

/** The MIME structure of each message of the set (computed and stored on first request). */
export async function structures(
  deps: Deps,
  accountId: number,
  mailboxId: number,
  uids: string,
): Promise<{ uid: number; structure: MimeStructure }[]> {
  const db = deps.store.db;
  const rows = await rowsInSet(db, accountId, mailboxId, uids);
  const shas = [...new Set(rows.map((r) => r.blobSha256))];
  const known = new Map<string, MimeStructure>();
  const ms = schema.mimeStructures;
  for (let i = 0; i < shas.length; i += 500) {
    const part = shas.slice(i, i + 500);
    const hits = await db.select({ sha: ms.sha256, json: ms.json }).from(ms)
      .where(and(inList(ms.sha256, part), eq(ms.version, STRUCTURE_VERSION)));
    for (const h of hits) known.set(h.sha, JSON.parse(h.json));
  }
  const missing = shas.filter((s) => !known.has(s));
  for (let i = 0; i < missing.length; i += BLOBS_PER_READ) {
    const part = missing.slice(i, i + BLOBS_PER_READ);
    const blobs = await readBlobs(db, part, "full");
    const computed = [...blobs].map(([sha, raw]) => ({ sha, structure: parseMimeStructure(raw) }));
    if (computed.length === 0) continue;
    for (const c of computed) known.set(c.sha, c.structure);
    // One write job: the structures as JSON parameters of at most STRUCTURES_PER_VALUE bytes
    // each (a concurrent reader computing the same structure writes the same row).
    const statements = structureSlices(computed).map((slice) => ({
      sql: `INSERT INTO mime_structures (sha256, version, json)
        SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]') FROM json_each(?2)
        WHERE 1 ON CONFLICT (sha256) DO UPDATE SET version = ?1, json = excluded.json`,
      args: [STRUCTURE_VERSION, slice],
    }));
    if (statements.length > 0) await deps.store.batch(statements);
  }
  return rows.filter((r) => known.has(r.blobSha256))
    .map((r) => ({ uid: r.uid, structure: known.get(r.blobSha256)! }));
}

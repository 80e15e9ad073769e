/**
 * Attachments uploaded once and sent by id (`POST /v1/emails/attachments`). The bytes go to the
 * content-addressed `blobs` table, stored once however many accounts upload them; what the
 * account gets back is its own opaque id (an `uploads` row), never the hash. An id is usable
 * only by the account that uploaded it, and another account's id, a hash or an id that was
 * never issued all get the same answer, so nobody can learn whether some file exists here.
 */
import { and, eq } from "drizzle-orm";
import { sha256Hex, toHex } from "../crypto.ts";
import type { Deps } from "../deps.ts";
import { blobBytes, blobJob } from "../services/blob_chunks.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { inList } from "../store/in_list.ts";

const u = schema.uploads;

/** `up_` and 128 random bits: the form TxAttachmentInput's `blobId` accepts. */
const newUploadId = () => `up_${toHex(crypto.getRandomValues(new Uint8Array(16)))}`;

/**
 * Stores the bytes (once per content) and returns the account's id for them: the same id when
 * this account uploaded the same bytes before, a new one otherwise.
 */
export async function storeUpload(
  deps: Deps,
  accountId: number,
  bytes: Uint8Array,
): Promise<{ blobId: string; size: number }> {
  const sha = await sha256Hex(bytes);
  // One write job: the blob, the account's upload row unless it has one, and that row's id.
  // A large upload's chunks are written ahead on D1 (blobJob: one chunk bound at a time).
  const blob = await blobJob(deps.store, bytes, sha, accountId);
  const results = await deps.store.batch([
    ...blob.statements,
    {
      sql: `INSERT INTO uploads (id, account_id, blob_sha256, size) VALUES (?, ?, ?, ?)
        ON CONFLICT DO NOTHING`,
      args: [newUploadId(), accountId, sha, bytes.length],
    },
    {
      sql: "SELECT id FROM uploads WHERE account_id = ? AND blob_sha256 = ?",
      args: [accountId, sha],
    },
  ]).catch(async (e) => {
    await blob.discard().catch(() => {});
    throw e;
  });
  const id = String(results[results.length - 1].rows[0].id);
  return { blobId: id, size: bytes.byteLength };
}

/** The bytes of those of `ids` that the account uploaded; others are simply absent. */
export async function uploadedBytes(
  db: Queryable,
  accountId: number,
  ids: readonly string[],
): Promise<Map<string, Uint8Array>> {
  if (ids.length === 0) return new Map();
  const rows = await db.select({
    id: u.id,
    sha256: schema.blobs.sha256,
    size: schema.blobs.size,
    data: schema.blobs.data,
  }).from(u)
    .innerJoin(schema.blobs, eq(schema.blobs.sha256, u.blobSha256))
    .where(and(eq(u.accountId, accountId), inList(u.id, [...new Set(ids)])));
  // A large upload keeps its octets past the first MiB in blob_chunks (services/blob_chunks.ts).
  const out = new Map<string, Uint8Array>();
  for (const r of rows) out.set(r.id, await blobBytes(db, r));
  return out;
}

/**
 * Key rotation and re-encryption for encryption at rest, as bounded slices that the CLI (`postern
 * keys rotate-data`, `postern keys reencrypt`) or a scheduled loop can drive on any store engine.
 *
 * `rotateDataKeys` makes a new key-encryption key version, re-wraps every data key under it (the
 * keys' bytes do not change, so nothing sealed needs touching for that) and retires each
 * account's active data key for a new one: new mail is sealed under the new keys at once (other
 * processes within the vault's active-key TTL). `reencryptSlice` then re-seals, a slice at a time,
 * what is plaintext (stored before encryption, or with it off) or sealed under a retired key:
 * blobs (rows, chunks, objects), message rows' parsed form and preview, and their FTS5 body,
 * and the spam filter's plaintext tokens (hashed, their counts kept: spam_tokens.ts).
 * Each rewrite is one write job guarded in SQL by the value it read, so a concurrent change wins.
 */
import { rawSql, type Statement, type Store } from "../store/store.ts";
import { blobBytes, bytesOf, resealStatements } from "../services/blob_chunks.ts";
import { isSealed, isSealedText, sealedKeyId } from "./sealed_part.ts";
import { parsedJsonOf, sealRowTexts } from "./sealed_rows.ts";
import { openText } from "./sealed_part.ts";
import { hashedBody } from "./search_tokens.ts";
import { hashPlainTokens } from "./spam_tokens.ts";
import { searchableBody } from "../services/search_index.ts";
import { fromBase64 } from "../crypto.ts";
import { AppError } from "../errors.ts";
import type { ParsedMail } from "../../schemas/mail.ts";

/** Data keys re-wrapped per write job (D1: far fewer than 1,000 statements per batch). */
const REWRAP_BATCH = 200;

function vaultOf(store: Store) {
  if (!store.vault) throw new AppError(500, "internal", "this store has no key vault");
  return store.vault;
}

/** Rotates: a new KEK version, every data key re-wrapped under it, new active data keys. */
export async function rotateDataKeys(store: Store) {
  const vault = vaultOf(store);
  const from = await vault.currentKekVersion();
  const version = from + 1;
  // Its own job first: the re-wraps below need the new KEK's row to unwrap their keys later.
  await store.batch([await vault.newKekStatement(version)]);
  let rewrapped = 0;
  for (let after = 0;;) {
    const rows = await rawSql(store.db).all<
      { id: number; account_id: number; kek_version: number; wrapped: unknown }
    >(
      "SELECT id, account_id, kek_version, wrapped FROM crypt_keys WHERE id > ? ORDER BY id LIMIT ?",
      [after, REWRAP_BATCH],
    );
    if (rows.length === 0) break;
    const statements: Statement[] = [];
    for (const r of rows) {
      const accountId = Number(r.account_id);
      const raw = await vault.unwrap(Number(r.kek_version), accountId, bytesOf(r.wrapped));
      const wrapped = await vault.wrap(version, accountId, raw);
      raw.fill(0);
      statements.push({
        sql: "UPDATE crypt_keys SET kek_version = ?, wrapped = ? WHERE id = ? AND kek_version = ?",
        args: [version, wrapped, r.id, r.kek_version],
      });
    }
    await store.batch(statements);
    rewrapped += rows.length;
    after = Number(rows[rows.length - 1].id);
  }
  // New data keys: each account with an active key gets a fresh one, the old one retired.
  const accounts = await rawSql(store.db).all<{ account_id: number }>(
    "SELECT DISTINCT account_id FROM crypt_keys WHERE retired_at IS NULL ORDER BY account_id",
  );
  const now = Date.now();
  for (let i = 0; i < accounts.length; i += REWRAP_BATCH / 2) {
    const statements: Statement[] = [];
    for (const { account_id } of accounts.slice(i, i + REWRAP_BATCH / 2)) {
      statements.push(
        {
          sql: "UPDATE crypt_keys SET retired_at = ? WHERE account_id = ? AND retired_at IS NULL",
          args: [now, account_id],
        },
        await vault.newKeyStatement(Number(account_id), false),
      );
    }
    await store.batch(statements);
  }
  vault.forgetActive();
  return { kekVersion: version, rewrapped, newDataKeys: accounts.length };
}

/** Where a re-encryption pass stands: resume from here. */
export interface ReencryptCursor {
  blob: string;
  message: number;
  /** When the pass began (its first slice): keys of accounts deleted before are shredded. */
  startedAt?: number;
}

/** Ids of the data keys new data is sealed under. */
async function activeIds(store: Store): Promise<Set<number>> {
  const rows = await rawSql(store.db).all<{ id: number }>(
    "SELECT id FROM crypt_keys WHERE retired_at IS NULL",
  );
  return new Set(rows.map((r) => Number(r.id)));
}

/** Ids of the keys of deleted accounts, which seal nothing new and are to be destroyed. */
async function deadKeyIds(store: Store): Promise<Set<number>> {
  const rows = await rawSql(store.db).all<{ id: number }>(
    "SELECT id FROM crypt_keys WHERE account_deleted_at IS NOT NULL",
  );
  return new Set(rows.map((r) => Number(r.id)));
}

/** Whether a stored part must be re-sealed: plaintext, or sealed under a retired key. */
const stale = (bytes: Uint8Array, active: Set<number>) =>
  !isSealed(bytes) || !active.has(sealedKeyId(bytes));

function staleText(value: string, active: Set<number>): boolean {
  if (value === "") return false;
  if (!isSealedText(value)) return true;
  return !active.has(sealedKeyId(fromBase64(value.slice(4, 4 + 24))));
}

/**
 * One bounded slice: up to `limit` blobs and `limit` messages after `cursor`, each re-sealed
 * under its owner's active key when it is plaintext or under a retired key. Returns what it
 * changed and the cursor to go on from (undefined once both tables are done).
 */
export async function reencryptSlice(
  store: Store,
  limit: number,
  cursor: ReencryptCursor = { blob: "", message: 0 },
): Promise<{ blobs: number; messages: number; tokens: number; cursor?: ReencryptCursor }> {
  const vault = vaultOf(store);
  const startedAt = cursor.startedAt ?? Date.now();
  const active = await activeIds(store);
  const dead = await deadKeyIds(store);
  const db = store.db;
  let blobs = 0;
  const blobRows = await rawSql(db).all<{ sha256: string; size: number; data: unknown }>(
    "SELECT sha256, size, data FROM blobs WHERE sha256 > ? AND sha256 NOT LIKE 'staging-%' " +
      "ORDER BY sha256 LIMIT ?",
    [cursor.blob, limit],
  );
  for (const row of blobRows) {
    const first = bytesOf(row.data);
    if (!stale(first, active)) continue;
    // Sealed under a deleted account's key: it is another account's now (or the server's).
    const owner = isSealed(first) && !dead.has(sealedKeyId(first))
      ? (await vault.keyById(sealedKeyId(first))).accountId
      : await ownerOf(store, row.sha256);
    const plain = await blobBytes(db, { ...row, size: Number(row.size) });
    const key = await vault.activeKey(owner);
    // Its parts replaced, guarded by the first part read: a concurrent rewrite wins.
    await store.batch(await resealStatements(store, key, plain, row.sha256, first));
    blobs++;
  }
  let messages = 0;
  const messageRows = await rawSql(db).all<
    { id: number; account_id: number; parsed: string; preview: string }
  >(
    "SELECT id, account_id, parsed, preview FROM messages WHERE id > ? ORDER BY id LIMIT ?",
    [cursor.message, limit],
  );
  for (const row of messageRows) {
    const sealedParsed = row.parsed.includes('"sealed":"');
    const parsedStale = !sealedParsed ||
      staleText(JSON.parse(row.parsed).sealed as string, active);
    if (!parsedStale && !staleText(row.preview, active)) continue;
    const accountId = Number(row.account_id);
    const json = await parsedJsonOf(db, accountId, row.parsed);
    const parsed = JSON.parse(json) as ParsedMail & Record<string, unknown>;
    const preview = await openText(
      vault.lookup,
      row.preview,
      `preview of account ${accountId}`,
    );
    const texts = await sealRowTexts(store, accountId, parsed, json, preview);
    if (!texts) break;
    const body = hashedBody(await vault.activeKey(accountId), searchableBody(parsed));
    await store.batch([
      {
        sql: "UPDATE messages SET parsed = ?, preview = ? WHERE id = ? AND parsed = ?",
        args: [texts.parsed, texts.preview, row.id, row.parsed],
      },
      // Its index row, when it has one, holds the words as this key hashes them.
      {
        sql: "UPDATE messages_fts SET body = ? WHERE rowid = ? AND EXISTS " +
          "(SELECT 1 FROM messages WHERE id = ? AND parsed = ?)",
        args: [body, row.id, row.id, texts.parsed],
      },
    ]);
    messages++;
  }
  // The spam filter's plaintext tokens (stored before encryption): hashed, counts kept.
  const tokens = await hashPlainTokens(store, limit);
  const done = blobRows.length < limit && messageRows.length < limit && tokens < limit;
  // The pass is over: FTS5 keeps a replaced row's old tokens in its segments until they merge.
  if (done) {
    await store.batch([
      { sql: "INSERT INTO messages_fts (messages_fts) VALUES ('optimize')" },
      // Crypto-shredding: the keys of accounts deleted before this pass began sealed nothing
      // that is left (every blob under them was re-sealed above or went with the account).
      {
        sql:
          "DELETE FROM crypt_keys WHERE account_deleted_at IS NOT NULL AND account_deleted_at < ?",
        args: [startedAt],
      },
    ]);
  }
  return {
    blobs,
    messages,
    tokens,
    cursor: done ? undefined : {
      blob: blobRows.at(-1)?.sha256 ?? cursor.blob,
      message: Number(messageRows.at(-1)?.id ?? cursor.message),
      startedAt,
    },
  };
}

/** The account whose key seals a plaintext blob: one that refers to it, else the server. */
async function ownerOf(store: Store, sha256: string): Promise<number> {
  const row = await rawSql(store.db).get<{ a: number | null }>(
    `SELECT coalesce(
      (SELECT account_id FROM messages WHERE blob_sha256 = ?1 LIMIT 1),
      (SELECT account_id FROM outbox WHERE blob_sha256 = ?1 AND account_id IS NOT NULL
        AND account_id IN (SELECT id FROM accounts) LIMIT 1),
      (SELECT account_id FROM uploads WHERE blob_sha256 = ?1 LIMIT 1),
      (SELECT account_id FROM messages WHERE draft_sha256 = ?1 LIMIT 1)) AS a`,
    [sha256],
  );
  return Number(row?.a ?? 0);
}

/**
 * `Idempotency-Key` for the send API (24 hours, per account and endpoint). The key's row is
 * inserted in the same write transaction as the send it records, so of two concurrent
 * duplicates exactly one commits; the other, running after it (the store serialises writers),
 * finds the row and answers with the first response. The same key with another body is a 409.
 */
import { and, eq, lt } from "drizzle-orm";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import type { InValue } from "@libsql/client/web";
import type { Queryable, Statement, Tx } from "../store/store.ts";
import { schema } from "../store/store.ts";

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

export interface IdempotencyKey {
  key: string;
  scope: string;
  hash: string;
}

/** A stored response to answer with instead of sending again. */
export class IdempotentReplay extends Error {
  constructor(readonly status: number, readonly body: unknown) {
    super("idempotent replay");
  }
}

/** JSON with sorted object keys: two bodies that differ only in key order hash the same. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export async function idempotencyKey(
  key: string,
  scope: string,
  body: unknown,
): Promise<IdempotencyKey> {
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new AppError(400, "bad_request", "Idempotency-Key must be 1 to 255 printable characters");
  }
  return { key, scope, hash: await sha256Hex(canonical(body)) };
}

/** Throws the replay (same body) or a 409 (other body) when the key is live; else nothing. */
export async function checkKey(
  db: Queryable | Tx,
  accountId: number,
  k: IdempotencyKey,
  now: number,
): Promise<void> {
  const [row] = await db.select().from(schema.txIdempotency).where(and(
    eq(schema.txIdempotency.accountId, accountId),
    eq(schema.txIdempotency.scope, k.scope),
    eq(schema.txIdempotency.key, k.key),
  ));
  if (!row || row.expiresAt <= now) return;
  if (row.requestHash !== k.hash) {
    throw new AppError(
      409,
      "conflict",
      "this Idempotency-Key was used with a different request body",
    );
  }
  throw new IdempotentReplay(row.status, JSON.parse(row.response));
}

/** Records the key with its response (in the send's transaction), replacing an expired row. */
export async function recordKey(
  tx: Tx,
  deps: Deps,
  accountId: number,
  k: IdempotencyKey,
  status: number,
  body: unknown,
): Promise<void> {
  const now = deps.clock.now();
  // checkKey ran earlier in this transaction: a conflicting row here can only be expired.
  await tx.insert(schema.txIdempotency).values({
    accountId,
    key: k.key,
    scope: k.scope,
    requestHash: k.hash,
    status,
    response: JSON.stringify(body),
    expiresAt: now + IDEMPOTENCY_TTL_MS,
    createdAt: now,
  }).onConflictDoUpdate({
    target: [schema.txIdempotency.accountId, schema.txIdempotency.scope, schema.txIdempotency.key],
    set: {
      requestHash: k.hash,
      status,
      response: JSON.stringify(body),
      expiresAt: now + IDEMPOTENCY_TTL_MS,
      createdAt: now,
    },
  });
}

/**
 * The first steps of a send's write job (`Store.batch`): an expired row with the key goes, then
 * the key is claimed by a plain INSERT. Of two concurrent requests with one key (both past
 * `checkKey`), the second's INSERT breaks the primary key and its whole job is undone; it then
 * finds the first's row (`replayAfterConflict`). `claimedResponse` fills the row in at the end.
 */
export function claimKeyStatements(
  deps: Deps,
  accountId: number,
  k: IdempotencyKey,
): Statement[] {
  const now = deps.clock.now();
  return [
    {
      sql: `DELETE FROM tx_idempotency WHERE account_id = ? AND scope = ? AND key = ?
        AND expires_at <= ?`,
      args: [accountId, k.scope, k.key, now],
    },
    {
      sql: `INSERT INTO tx_idempotency (account_id, key, scope, request_hash, status, response,
          expires_at, created_at) VALUES (?, ?, ?, ?, 0, 'null', ?, ?)`,
      args: [accountId, k.key, k.scope, k.hash, now + IDEMPOTENCY_TTL_MS, now],
    },
  ];
}

/** The last step: the claimed key's answer, with `id` set from SQL when given (the Sent copy). */
export function claimedResponse(
  accountId: number,
  k: IdempotencyKey,
  status: number,
  body: unknown,
  id?: { sql: string; args: InValue[] },
): Statement {
  const response = id ? `json_set(?, '$.id', ${id.sql})` : "?";
  return {
    sql: `UPDATE tx_idempotency SET status = ?, response = ${response}
      WHERE account_id = ? AND scope = ? AND key = ?`,
    args: [status, JSON.stringify(body), ...(id?.args ?? []), accountId, k.scope, k.key],
  };
}

/**
 * After a send's job failed: when another request has meanwhile recorded the same key, its
 * answer (IdempotentReplay, thrown); otherwise `error` again.
 */
export async function replayAfterConflict(
  db: Queryable,
  accountId: number,
  k: IdempotencyKey,
  now: number,
  error: unknown,
): Promise<never> {
  await checkKey(db, accountId, k, now);
  throw error;
}

/** Deletes keys past their 24 hours (the worker calls this now and then). */
export async function purgeExpiredKeys(deps: Deps): Promise<number> {
  const gone = await deps.store.db.delete(schema.txIdempotency)
    .where(lt(schema.txIdempotency.expiresAt, deps.clock.now()))
    .returning({ key: schema.txIdempotency.key });
  return gone.length;
}

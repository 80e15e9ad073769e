/**
 * The suppression list: per sending domain, addresses that must not be mailed again — fed by
 * bounces that say the recipient's mailbox is gone (bounce_class.ts decides which), complaints
 * (RFC 5965 reports) and unsubscribes (RFC 8058), editable by API, and checked before every send
 * through the send API. Each entry keeps why it exists (reason, code, stage, text, time, the
 * message) so that an admin can judge it and lift it.
 */
import { and, desc, eq, lt } from "drizzle-orm";
import type { Queryable, Store, Tx } from "../store/store.ts";
import { rawSql, recordStatements, schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import { remember } from "../store/read_scope.ts";
import { notFound } from "../errors.ts";
import { IN_JSON, jsonList } from "../store/in_list.ts";

export type SuppressionRow = typeof schema.txSuppressions.$inferSelect;
export type SuppressionReason = SuppressionRow["reason"];

export interface NewSuppression {
  domain: string;
  address: string;
  reason: SuppressionReason;
  detail?: string;
  /** The reply or status code behind it ("550 5.1.1"), or a complaint's feedback type. */
  code?: string;
  /** Where a bounce was answered (bounce_class.ts `FailureStage`). */
  stage?: string;
  messageId?: string;
  at: number;
}

/** Adds (or keeps) an entry; the first reason recorded stays. */
export async function suppressInTx(tx: Tx, s: NewSuppression): Promise<void> {
  await tx.insert(schema.txSuppressions).values({
    domain: s.domain.toLowerCase(),
    address: s.address.toLowerCase(),
    reason: s.reason,
    detail: (s.detail ?? "").slice(0, 500),
    code: s.code?.slice(0, 32) ?? null,
    stage: s.stage ?? null,
    messageId: s.messageId ?? null,
    createdAt: s.at,
  }).onConflictDoNothing();
}

/** Which of `addresses` the domain has suppressed (lower-cased). */
export async function suppressedAmong(
  db: Queryable,
  domain: string,
  addresses: string[],
): Promise<Set<string>> {
  if (addresses.length === 0) return new Set();
  // Checked before every send: plain SQL (store/store.ts RawSql), one line per suppressed
  // address, so that a request with optimistic reads (store/read_scope.ts) can cache the answer
  // and have its write job compare it with what the same query finds then.
  const lower = addresses.map((a) => a.toLowerCase());
  // The addresses as one JSON parameter (store/in_list.ts): D1 binds at most 100 per statement.
  const args = [domain.toLowerCase(), jsonList(lower)];
  const list = `(SELECT group_concat(address, char(10)) FROM (SELECT address FROM tx_suppressions
     WHERE domain = ? AND address IN ${IN_JSON} ORDER BY address))`;
  const found = await remember(
    db,
    `suppressed ${args.join(" ")}`,
    async () =>
      (await rawSql(db).get<{ list: string | null }>(`SELECT ${list} AS list`, args))!
        .list,
    (value) => ({ condition: `${list} IS ?`, args: [...args, value] }),
  );
  return new Set(found ? found.split("\n") : []);
}

export async function listSuppressions(
  db: Queryable,
  domain: string,
  opts: { beforeId?: number; limit: number },
): Promise<SuppressionRow[]> {
  const where = [eq(schema.txSuppressions.domain, domain.toLowerCase())];
  if (opts.beforeId) where.push(lt(schema.txSuppressions.id, opts.beforeId));
  return await db.select().from(schema.txSuppressions).where(and(...where))
    .orderBy(desc(schema.txSuppressions.id)).limit(opts.limit);
}

const suppressionsSql = tableSql(schema.txSuppressions);

export async function addSuppression(store: Store, s: NewSuppression): Promise<SuppressionRow> {
  // One write job: the row unless it is there already, then the row as it stands.
  const results = await store.batch([
    ...await recordStatements((tx) => suppressInTx(tx, s)),
    {
      sql:
        `SELECT ${suppressionsSql.columns} FROM tx_suppressions WHERE domain = ? AND address = ?`,
      args: [s.domain.toLowerCase(), s.address.toLowerCase()],
    },
  ]);
  return suppressionsSql.fromRow(
    results[results.length - 1].rows[0] as unknown as Record<string, unknown>,
  );
}

export async function removeSuppression(
  store: Store,
  domain: string,
  address: string,
): Promise<void> {
  const deleted = await store.db.delete(schema.txSuppressions).where(and(
    eq(schema.txSuppressions.domain, domain.toLowerCase()),
    eq(schema.txSuppressions.address, address.toLowerCase()),
  )).returning({ id: schema.txSuppressions.id });
  if (deleted.length === 0) throw notFound("suppression");
}

/**
 * The audit log: one row per administrative or security-relevant change (who, what, on which
 * target, from which IP). Rows are append-only and listed newest first with a cursor. Data never
 * holds secrets: fields whose names look like credentials are redacted before they are stored.
 */
import { desc, lt } from "drizzle-orm";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";

export type AuditRow = typeof schema.auditLog.$inferSelect;

export interface AuditEntry {
  actorAccountId: number | null;
  /** A stable dotted name, e.g. `account.create`, `api_key.revoke`, `2fa.enable`. */
  action: string;
  /** What was acted on, e.g. `account:12` or `domain:example.com`. */
  target?: string;
  data?: Record<string, unknown>;
  ip?: string;
}

// A second line of defence: callers already leave secrets out (flags like `passwordChanged` stay).
const SECRET_FIELD = /pass|secret|token|recovery|^code$|^codes$|^key$|hash/i;

function redact(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(data).map((
      [k, v],
    ) => [k, SECRET_FIELD.test(k) && typeof v !== "boolean" ? "[redacted]" : v]),
  );
}

export async function audit(db: Queryable, entry: AuditEntry): Promise<void> {
  await db.insert(schema.auditLog).values({
    actorAccountId: entry.actorAccountId,
    action: entry.action,
    target: entry.target ?? "",
    data: JSON.stringify(redact(entry.data ?? {})),
    ip: entry.ip ?? "",
  });
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** Newest first; the cursor is the id of the last row seen. */
export async function listAudit(
  db: Queryable,
  opts: { cursor?: number; limit: number },
): Promise<Page<AuditRow>> {
  const rows = await db.select().from(schema.auditLog)
    .where(opts.cursor ? lt(schema.auditLog.id, opts.cursor) : undefined)
    .orderBy(desc(schema.auditLog.id))
    .limit(opts.limit + 1);
  const more = rows.length > opts.limit;
  const items = rows.slice(0, opts.limit);
  return { items, nextCursor: more ? String(items[items.length - 1].id) : null };
}

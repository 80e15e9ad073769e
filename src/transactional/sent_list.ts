/**
 * The account's sent transactional emails, newest first, with filters (recipient, sender,
 * subject words, tag, state or recipient status, a time window) and keyset paging on
 * (created_at, rowid) — rowid, not the random email id, so emails sent in the same millisecond
 * keep the order they were sent in — and page 1,000 costs what page 1 does. One read for the page and one
 * for its recipients; at most 100 ids are bound in the second (D1's limit on bound parameters).
 */
import type { InValue } from "@libsql/client/web";
import { AppError } from "../errors.ts";
import { fromBase64Url, toBase64Url } from "../crypto.ts";
import { type Queryable, rawSql } from "../store/store.ts";
import { TX_STATES } from "../../schemas/tx_send.ts";

export const SENT_PAGE_MAX = 100;

export interface SentQuery {
  /** A recipient address (exact, case-insensitive). */
  to?: string;
  /** The From address (exact, case-insensitive). */
  from?: string;
  /** Words the subject contains (case-insensitive). */
  subject?: string;
  tag?: string;
  /** A message state (scheduled, accepted, cancelled) or a recipient status (delivered, …). */
  status?: string;
  /** Created at or after / before (ms since the epoch). */
  after?: number;
  before?: number;
  limit: number;
  cursor?: string;
  /** Resend-style paging by email id: the emails sent before / after this one. */
  olderThan?: string;
  newerThan?: string;
}

export interface SentItem {
  emailId: string;
  messageId: string;
  from: string;
  subject: string;
  state: "scheduled" | "accepted" | "cancelled";
  sendAt: string | null;
  tags: string[];
  createdAt: string;
  recipients: { address: string; status: string }[];
  /** The type of the email's latest timeline event (queued, delivered, bounced, …). */
  lastEvent: string | null;
}

const MESSAGE_STATES = new Set<string>(TX_STATES);
const iso = (ms: number) => new Date(ms).toISOString();

function encodeCursor(createdAt: number, row: number): string {
  return toBase64Url(new TextEncoder().encode(`${createdAt}:${row}`));
}

function decodeCursor(cursor: string): { createdAt: number; row: number } {
  try {
    const [at, row] = new TextDecoder().decode(fromBase64Url(cursor)).split(":").map(Number);
    if (Number.isSafeInteger(at) && Number.isSafeInteger(row)) return { createdAt: at, row };
  } catch { /* answered below */ }
  throw new AppError(422, "validation_failed", "the cursor is not one this API gave out", [
    { path: "cursor", message: "not a cursor from a previous page" },
  ]);
}

/** `%`, `_` and `\` are literal in a LIKE pattern with `ESCAPE '\'`. */
const likeLiteral = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export async function listSent(
  db: Queryable,
  accountId: number,
  q: SentQuery,
): Promise<{ data: SentItem[]; nextCursor: string | null; hasMore: boolean }> {
  const where = ["m.account_id = ?"];
  const args: InValue[] = [accountId];
  if (q.after !== undefined) where.push("m.created_at >= ?"), args.push(q.after);
  if (q.before !== undefined) where.push("m.created_at < ?"), args.push(q.before);
  if (q.from) where.push("lower(m.from_address) = lower(?)"), args.push(q.from);
  if (q.subject) {
    where.push("m.subject LIKE ? ESCAPE '\\'");
    args.push(`%${likeLiteral(q.subject)}%`);
  }
  if (q.tag) {
    where.push("EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = ?)");
    args.push(q.tag);
  }
  if (q.to) {
    where.push(
      "EXISTS (SELECT 1 FROM tx_recipients r WHERE r.message_id = m.id AND lower(r.address) = lower(?))",
    );
    args.push(q.to);
  }
  if (q.status && MESSAGE_STATES.has(q.status)) where.push("m.state = ?"), args.push(q.status);
  else if (q.status) {
    where.push(
      "EXISTS (SELECT 1 FROM tx_recipients r WHERE r.message_id = m.id AND r.status = ?)",
    );
    args.push(q.status);
  }
  const sql = rawSql(db);
  const anchorId = q.olderThan ?? q.newerThan;
  const newer = q.newerThan !== undefined;
  const anchor = anchorId === undefined ? undefined : await sql.get<{ at: number; row: number }>(
    "SELECT created_at AS at, rowid AS row FROM tx_messages WHERE account_id = ? AND id = ?",
    [accountId, anchorId],
  );
  if (anchorId !== undefined && !anchor) {
    throw new AppError(422, "validation_failed", "the email to page from is not found", [
      { path: newer ? "before" : "after", message: "no such email" },
    ]);
  }
  const from = q.cursor
    ? decodeCursor(q.cursor)
    : anchor
    ? { createdAt: Number(anchor.at), row: Number(anchor.row) }
    : undefined;
  if (from) {
    where.push(
      newer
        ? "(m.created_at > ? OR (m.created_at = ? AND m.rowid > ?))"
        : "(m.created_at < ? OR (m.created_at = ? AND m.rowid < ?))",
    );
    args.push(from.createdAt, from.createdAt, from.row);
  }
  const limit = Math.min(Math.max(q.limit, 1), SENT_PAGE_MAX);
  const order = newer ? "ASC" : "DESC";
  const rows = await sql.all<{
    id: string;
    row: number;
    message_id_header: string;
    from_address: string;
    subject: string;
    state: SentItem["state"];
    send_at: number | null;
    tags: string;
    created_at: number;
  }>(
    `SELECT m.id, m.rowid AS row, m.message_id_header, m.from_address, m.subject, m.state, m.send_at, m.tags,
            m.created_at
       FROM tx_messages m WHERE ${where.join(" AND ")}
      ORDER BY m.created_at ${order}, m.rowid ${order} LIMIT ?`,
    [...args, limit + 1],
  );
  // Newest first whichever way the page was read.
  const page = newer ? rows.slice(0, limit).toReversed() : rows.slice(0, limit);
  const recipients = new Map<string, { address: string; status: string }[]>();
  const lastEvents = new Map<string, string>();
  if (page.length > 0) {
    const found = await sql.all<{ message_id: string; address: string; status: string }>(
      `SELECT message_id, address, status FROM tx_recipients
        WHERE message_id IN (${page.map(() => "?").join(",")}) ORDER BY id`,
      page.map((r) => r.id),
    );
    for (const r of found) {
      const list = recipients.get(r.message_id) ?? [];
      list.push({ address: r.address, status: r.status });
      recipients.set(r.message_id, list);
    }
    const events = await sql.all<{ message_id: string; type: string }>(
      `SELECT message_id, type FROM tx_events WHERE id IN (
         SELECT max(id) FROM tx_events WHERE message_id IN (${
        page.map(() => "?").join(",")
      }) GROUP BY message_id)`,
      page.map((r) => r.id),
    );
    for (const e of events) lastEvents.set(e.message_id, e.type);
  }
  const last = page[page.length - 1];
  return {
    data: page.map((m) => ({
      emailId: m.id,
      messageId: m.message_id_header,
      from: m.from_address,
      subject: m.subject,
      state: m.state,
      sendAt: m.send_at === null ? null : iso(Number(m.send_at)),
      tags: JSON.parse(m.tags),
      createdAt: iso(Number(m.created_at)),
      recipients: recipients.get(m.id) ?? [],
      lastEvent: lastEvents.get(m.id) ?? null,
    })),
    nextCursor: rows.length > limit && last && !newer
      ? encodeCursor(Number(last.created_at), Number(last.row))
      : null,
    hasMore: rows.length > limit,
  };
}

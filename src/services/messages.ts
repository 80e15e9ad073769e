/**
 * Reading and changing one account's messages: cursor-paged listing (newest first, keyset
 * pagination on the `(internal_date, id)` indexes, never OFFSET), the JSON and raw forms,
 * attachment download, flags and keywords (RFC 3501 section 2.3.2, with RFC 7162 modseq bumps),
 * move, delete to Trash and purge. Every query carries the caller's account id, so another
 * account's id is "not found" and never data.
 */
import { openPreviews, parsedJsonOf } from "../crypt/sealed_rows.ts";
import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import {
  decodeCursor,
  encodeCursor,
  type FlagChanges,
  type MessageBatchRequest,
  type MessageDetail,
  type MessageSummary,
  type MessageUpdateRequest,
} from "../../schemas/api_mail.ts";
import type { NamedAddress, ParsedMail } from "../../schemas/mail.ts";
import type { Deps } from "../deps.ts";
import type { MimePort } from "../ports.ts";
import { AppError, badRequest, notFound } from "../errors.ts";
import type { Queryable, Statement } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { retryStale } from "../store/optimistic.ts";
import { mailboxByRole, requireMailbox } from "./mailboxes.ts";
import { type FlagChange, flagJob, moveStatements, purgeStatements } from "./message_store.ts";
import { trainQueued } from "./spam_training.ts";
import { blobBytes, blobStream } from "./blob_chunks.ts";
import { inList } from "../store/in_list.ts";
import { recoveryOn } from "./recovery_sql.ts";

const m = schema.messages;
type MessageRow = typeof m.$inferSelect;

export const MAX_KEYWORDS_PER_MESSAGE = 100;

/** Every column but the parsed JSON (which can be megabytes): what listings read. */
export const summaryColumns = {
  id: m.id,
  accountId: m.accountId,
  mailboxId: m.mailboxId,
  uid: m.uid,
  modseq: m.modseq,
  threadId: m.threadId,
  subject: m.subject,
  fromAddress: m.fromAddress,
  fromName: m.fromName,
  toJson: m.toJson,
  ccJson: m.ccJson,
  preview: m.preview,
  sentAt: m.sentAt,
  internalDate: m.internalDate,
  size: m.size,
  hasAttachments: m.hasAttachments,
  seen: m.seen,
  flagged: m.flagged,
  answered: m.answered,
  draft: m.draft,
  deleted: m.deleted,
  keywords: m.keywords,
};
export type SummaryRow = Pick<MessageRow, keyof typeof summaryColumns>;

const iso = (ms: number) => new Date(ms).toISOString();

function parseList<T>(json: string): T[] {
  try {
    const v = JSON.parse(json);
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

export function toSummary(row: SummaryRow): MessageSummary {
  return {
    id: row.id,
    mailboxId: row.mailboxId,
    uid: row.uid,
    modseq: row.modseq,
    threadId: row.threadId,
    subject: row.subject,
    from: row.fromAddress ? { name: row.fromName, address: row.fromAddress } : null,
    to: parseList<NamedAddress>(row.toJson),
    cc: parseList<NamedAddress>(row.ccJson),
    preview: row.preview,
    sentAt: iso(row.sentAt),
    receivedAt: iso(row.internalDate),
    size: row.size,
    hasAttachments: row.hasAttachments,
    flags: {
      seen: row.seen,
      flagged: row.flagged,
      answered: row.answered,
      draft: row.draft,
      deleted: row.deleted,
    },
    keywords: parseList<string>(row.keywords),
  };
}

/** Decodes a page cursor; a malformed one is the client's fault (400). */
export function pageCursor(cursor: string | undefined) {
  if (cursor === undefined) return undefined;
  const decoded = decodeCursor(cursor);
  if (!decoded) {
    throw badRequest("the cursor is malformed", [{ path: "query.cursor", message: "malformed" }]);
  }
  return decoded;
}

/** Keyset condition for "older than the cursor" on `(internal_date, id)`: a row-value range. */
export function olderThan(cursor: { key: number; id: number } | undefined): SQL | undefined {
  return cursor ? sql`(${m.internalDate}, ${m.id}) < (${cursor.key}, ${cursor.id})` : undefined;
}

export type FlagFilter = "seen" | "unseen" | "flagged" | "answered" | "draft";

const FLAG_FILTERS: Record<FlagFilter, SQL> = {
  seen: sql`${m.seen} = 1`,
  unseen: sql`${m.seen} = 0`,
  flagged: sql`${m.flagged} = 1`,
  answered: sql`${m.answered} = 1`,
  draft: sql`${m.draft} = 1`,
};

export interface ListQuery {
  mailboxId?: number;
  threadId?: number;
  flag?: FlagFilter;
  cursor?: string;
  limit: number;
}

/**
 * The listing query, exposed so tests can EXPLAIN it. With a mailbox (or thread) the account
 * test is written `+account_id`, which keeps it as a filter but stops SQLite from picking the
 * account index over the narrower mailbox/thread one; ownership was checked beforehand and the
 * filter stays as a second guard.
 */
export function listQuery(db: Queryable, accountId: number, q: ListQuery) {
  const where: (SQL | undefined)[] = [];
  if (q.mailboxId !== undefined || q.threadId !== undefined) {
    where.push(sql`+${m.accountId} = ${accountId}`);
    if (q.mailboxId !== undefined) where.push(eq(m.mailboxId, q.mailboxId));
    if (q.threadId !== undefined) {
      where.push(
        q.mailboxId === undefined
          ? eq(m.threadId, q.threadId)
          : sql`+${m.threadId} = ${q.threadId}`,
      );
    }
  } else {
    where.push(eq(m.accountId, accountId));
  }
  if (q.flag) where.push(FLAG_FILTERS[q.flag]);
  where.push(olderThan(pageCursor(q.cursor)));
  return db.select(summaryColumns).from(m).where(and(...where))
    .orderBy(desc(m.internalDate), desc(m.id)).limit(q.limit + 1);
}

/** Turns limit+1 rows into a page and the cursor of its last item. */
export function toPage<R extends { id: number }, T>(
  rows: R[],
  limit: number,
  key: (r: R) => number,
  map: (r: R) => T,
) {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return {
    items: items.map(map),
    nextCursor: more && last ? encodeCursor(key(last), last.id) : null,
  };
}

export async function requireThread(db: Queryable, accountId: number, id: number) {
  const [row] = await db.select().from(schema.threads).where(and(
    eq(schema.threads.id, id),
    eq(schema.threads.accountId, accountId),
  ));
  if (!row) throw notFound("thread");
  return row;
}

export async function listMessages(db: Queryable, accountId: number, q: ListQuery) {
  pageCursor(q.cursor);
  if (q.mailboxId !== undefined) await requireMailbox(db, accountId, q.mailboxId);
  if (q.threadId !== undefined) await requireThread(db, accountId, q.threadId);
  const rows = await listQuery(db, accountId, q);
  await openPreviews(db, rows); // sealed at rest (crypt/sealed_rows.ts)
  return toPage(rows, q.limit, (r) => r.internalDate, toSummary);
}

async function requireRow(db: Queryable, accountId: number, id: number): Promise<MessageRow> {
  const [row] = await db.select().from(m).where(and(eq(m.id, id), eq(m.accountId, accountId)));
  if (!row) throw notFound("message");
  // Body text sealed at rest (crypt/sealed_rows.ts) is opened here, for every reader of the row.
  row.parsed = await parsedJsonOf(db, accountId, row.parsed);
  await openPreviews(db, [row]);
  return row;
}

function parsedOf(
  row: MessageRow,
): ParsedMail & {
  authentication?: Record<string, unknown>;
  spam?: unknown;
  bodyTruncated?: boolean;
  listsTruncated?: boolean;
} {
  try {
    return JSON.parse(row.parsed);
  } catch {
    return {
      references: [],
      subject: row.subject,
      to: [],
      cc: [],
      replyTo: [],
      headers: [],
      attachments: [],
    };
  }
}

/**
 * One message in full. A row whose bodies were cut to fit (services/parsed_row.ts) gets them
 * from its raw message again, parsed by `mime`.
 */
export async function getMessage(
  db: Queryable,
  accountId: number,
  id: number,
  mime?: Pick<MimePort, "parse">,
): Promise<MessageDetail> {
  const row = await requireRow(db, accountId, id);
  const p = parsedOf(row);
  if (p.bodyTruncated === true && mime) {
    const full = await mime.parse(await getRaw(db, accountId, id));
    p.text = full.text;
    p.html = full.html;
    if (p.listsTruncated === true) {
      p.headers = full.headers;
      p.attachments = full.attachments;
    }
  }
  const detail: MessageDetail = {
    ...toSummary(row),
    messageIdHeader: p.messageId ?? null,
    inReplyTo: p.inReplyTo ?? null,
    references: p.references ?? [],
    replyTo: p.replyTo ?? [],
    headers: p.headers ?? [],
    text: p.text ?? null,
    html: p.html ?? null,
    attachments: p.attachments ?? [],
  };
  if (p.authentication && typeof p.authentication === "object") {
    detail.authentication = p.authentication;
  }
  if (p.spam && typeof p.spam === "object") detail.spam = p.spam as MessageDetail["spam"];
  return detail;
}

/** The message's `blobs` row (the first chunk of a large one). */
async function rawRow(db: Queryable, accountId: number, id: number) {
  const [row] = await db.select({
    sha256: schema.blobs.sha256,
    size: schema.blobs.size,
    data: schema.blobs.data,
  }).from(m)
    .innerJoin(schema.blobs, eq(schema.blobs.sha256, m.blobSha256))
    .where(and(eq(m.id, id), eq(m.accountId, accountId)));
  if (!row) throw notFound("message");
  return row;
}

/** The exact stored RFC 5322 bytes. */
export async function getRaw(db: Queryable, accountId: number, id: number): Promise<Uint8Array> {
  return await blobBytes(db, await rawRow(db, accountId, id));
}

/** The exact stored RFC 5322 bytes as a stream (one chunk in memory at a time), and their size. */
export async function getRawStream(
  db: Queryable,
  accountId: number,
  id: number,
): Promise<{ body: ReadableStream<Uint8Array>; size: number }> {
  const row = await rawRow(db, accountId, id);
  return { body: blobStream(db, row), size: row.size };
}

export async function getAttachment(deps: Deps, accountId: number, id: number, index: number) {
  const row = await requireRow(deps.store.db, accountId, id);
  const parsed = parsedOf(row);
  const raw = await getRaw(deps.store.db, accountId, id);
  // A list cut to fit its row (services/parsed_row.ts) is read from the raw message.
  const list = parsed.listsTruncated === true
    ? (await deps.mime.parse(raw)).attachments
    : parsed.attachments ?? [];
  const info = list.find((a) => a.index === index);
  if (!info) throw notFound("attachment");
  const content = await deps.mime.attachment(raw, index);
  if (!content) throw notFound("attachment");
  return content;
}

// ---------------------------------------------------------------------------------------------
// Download headers

// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * A filename safe to offer: no directories (either slash), no controls, no quotes, no characters
 * that Windows refuses, no leading dots, at most 200 characters; never empty.
 */
export function safeFilename(name: string): string {
  const base = name.replace(CONTROLS, "").split(/[\/\\]/).pop() ?? "";
  const clean = base.replace(/["]/g, "").replace(/[<>:|?*]/g, "_").replace(/^[\s.]+/, "")
    .trim().slice(0, 200);
  return clean || "attachment";
}

/**
 * `Content-Disposition: attachment` with an ASCII fallback `filename` and the exact name as
 * RFC 8187 `filename*` (RFC 6266 section 4.3).
 */
export function contentDisposition(name: string): string {
  const safe = safeFilename(name);
  const ascii = safe.replace(/[^\x20-\x7e]/g, "_").replace(/[\\%;]/g, "_");
  const encoded = encodeURIComponent(safe).replace(
    /['()*!]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/** The part's media type when it is a plain `type/subtype`, else octet-stream. */
export function safeContentType(value: string): string {
  const type = value.split(";")[0].trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,127}$/.test(type)
    ? type
    : "application/octet-stream";
}

// ---------------------------------------------------------------------------------------------
// Changes

const FLAG_NAMES = ["seen", "flagged", "answered", "draft", "deleted"] as const;

/** Applies flag and keyword changes; returns the new values or undefined when nothing changes. */
function applyChanges(
  row: MessageRow,
  flags: FlagChanges | undefined,
  add: string[] | undefined,
  remove: string[] | undefined,
) {
  const next: Record<(typeof FLAG_NAMES)[number], boolean> = {
    seen: row.seen,
    flagged: row.flagged,
    answered: row.answered,
    draft: row.draft,
    deleted: row.deleted,
  };
  let changed = false;
  for (const f of FLAG_NAMES) {
    const v = flags?.[f];
    if (v !== undefined && v !== next[f]) {
      next[f] = v;
      changed = true;
    }
  }
  // RFC 3501 section 2.3.2: keywords compare case-insensitively; the first spelling is kept.
  const keywords = parseList<string>(row.keywords);
  const lower = new Set(keywords.map((k) => k.toLowerCase()));
  for (const k of add ?? []) {
    if (lower.has(k.toLowerCase())) continue;
    keywords.push(k);
    lower.add(k.toLowerCase());
    changed = true;
  }
  const gone = new Set((remove ?? []).map((k) => k.toLowerCase()));
  const kept = keywords.filter((k) => !gone.has(k.toLowerCase()));
  if (kept.length !== keywords.length) changed = true;
  if (kept.length > MAX_KEYWORDS_PER_MESSAGE) {
    throw new AppError(422, "validation_failed", "too many keywords on one message", [
      { path: "addKeywords", message: `at most ${MAX_KEYWORDS_PER_MESSAGE} keywords per message` },
    ]);
  }
  return changed ? { ...next, keywords: kept } : undefined;
}

/**
 * The statements of a flag change (one batch, `flagJob`): the new values are computed from rows
 * read before, and the job stops if one of them changed since.
 */
function changeStatements(
  accountId: number,
  rows: MessageRow[],
  req: Pick<MessageUpdateRequest, "flags" | "addKeywords" | "removeKeywords">,
): Statement[] {
  const changes: FlagChange[] = [];
  for (const row of rows) {
    const next = applyChanges(row, req.flags, req.addKeywords, req.removeKeywords);
    if (next) {
      changes.push({
        ...next,
        id: row.id,
        mailboxId: row.mailboxId,
        uid: row.uid,
        modseq: row.modseq,
      });
    }
  }
  return flagJob(accountId, changes).statements;
}

async function summaryOf(db: Queryable, accountId: number, id: number) {
  return toSummary(await requireRow(db, accountId, id));
}

/** Changes one message's flags and keywords: read, then one round trip (as moveMessage). */
export async function updateMessage(
  deps: Deps,
  accountId: number,
  id: number,
  req: MessageUpdateRequest,
): Promise<MessageSummary> {
  const changed = await retryStale(async () => {
    const row = await requireRow(deps.store.db, accountId, id);
    const statements = changeStatements(accountId, [row], req);
    if (statements.length > 0) await deps.store.batch(statements);
    return statements.length > 0;
  });
  if (changed) deps.bus.notify(accountId);
  return await summaryOf(deps.store.db, accountId, id);
}

/** Moves one message: read, then one round trip (read again when it changed meanwhile). */
export async function moveMessage(deps: Deps, accountId: number, id: number, target: number) {
  await retryStale(async () => {
    const row = await requireRow(deps.store.db, accountId, id);
    await requireMailbox(deps.store.db, accountId, target);
    const statements = moveStatements(accountId, [row], target);
    if (statements.length > 0) await deps.store.batch(statements);
  });
  deps.bus.notify(accountId);
  await trainQueued(deps, accountId); // into or out of Junk (issue 21 item 1)
  return await summaryOf(deps.store.db, accountId, id);
}

/** Moves to Trash; a message already in Trash (or with `purge`) is removed for good. */
export async function deleteMessage(deps: Deps, accountId: number, id: number, purge: boolean) {
  // Read, then one round trip (as moveMessage).
  const result = await retryStale(async () => {
    const row = await requireRow(deps.store.db, accountId, id);
    const trash = await mailboxByRole(deps.store.db, accountId, "trash");
    if (purge || !trash || row.mailboxId === trash.id) {
      await deps.store.batch(
        purgeStatements(accountId, [row], { recover: recoveryOn(deps.config) }),
      );
      return { id, result: "purged" as const, mailboxId: null };
    }
    await deps.store.batch(moveStatements(accountId, [row], trash.id));
    return { id, result: "trashed" as const, mailboxId: trash.id };
  });
  deps.bus.notify(accountId);
  return result;
}

/**
 * One action on many messages, as one write job of one round trip (reads first, then a batch
 * that checks none of them changed since); ids that are not the caller's are listed.
 */
export async function batchMessages(deps: Deps, accountId: number, req: MessageBatchRequest) {
  const ids = [...new Set(req.ids)];
  const db = deps.store.db;
  const result = await retryStale(async () => {
    const rows = await db.select().from(m).where(
      and(eq(m.accountId, accountId), inList(m.id, ids)),
    );
    const found = new Set(rows.map((r) => r.id));
    const done = ids.filter((i) => found.has(i));
    const notFound_ = ids.filter((i) => !found.has(i));
    let statements: Statement[] = [];
    switch (req.action) {
      case "flag":
        statements = changeStatements(accountId, rows, req);
        break;
      case "move":
        await requireMailbox(db, accountId, req.mailboxId!);
        statements = moveStatements(accountId, rows, req.mailboxId!);
        break;
      case "delete": {
        const trash = await mailboxByRole(db, accountId, "trash");
        const toPurge = rows.filter((r) => !trash || r.mailboxId === trash.id);
        const toTrash = rows.filter((r) => trash && r.mailboxId !== trash.id);
        statements = purgeStatements(accountId, toPurge, { recover: recoveryOn(deps.config) });
        if (trash) statements.push(...moveStatements(accountId, toTrash, trash.id));
        break;
      }
      case "purge":
        statements = purgeStatements(accountId, rows, { recover: recoveryOn(deps.config) });
        break;
    }
    if (statements.length > 0) await deps.store.batch(statements);
    return { done, notFound: notFound_ };
  });
  if (result.done.length > 0) deps.bus.notify(accountId);
  if (result.done.length > 0 && req.action === "move") await trainQueued(deps, accountId);
  return result;
}

/**
 * Email/query and Email/queryChanges (RFC 8621 sections 4.4 and 4.5, RFC 8620 5.5 and 5.6) and
 * SearchSnippet/get (RFC 8621 section 5). A FilterOperator/FilterCondition tree compiles into
 * one SQL condition on the caller's messages: `text` and `body` through the FTS5 index (user
 * text never reaches FTS5 as syntax: services/search.ts `buildMatch`), address and subject
 * conditions as case-insensitive substring matches (section 4.4.1), keywords through the flag
 * columns and the keyword list. collapseThreads keeps the first Email of each Thread.
 */
import { wordHashes } from "../crypt/search_tokens.ts";
import { type SQL, sql } from "drizzle-orm";
import { buildMatch } from "../services/search.ts";
import { catchUpSearchIndex } from "../services/search_index.ts";
import { account, type Ctx, resolveId } from "./context.ts";
import { emailIdOf, parseEmailId, parseMailboxId } from "./ids.ts";
import { invalidArguments, type Json, MethodError, parseDate } from "./protocol.ts";
import { queryChangesResponse, queryWindow } from "./standard.ts";
import { changesSince, currentState } from "./state.ts";
import { emailRows } from "./email_get.ts";
import { decodeWords } from "./headers.ts";

/** At most this many ids in one answer (section 5.5 lets the server cap `limit`). */
export const MAX_QUERY_LIMIT = 1000;

const SYSTEM: Record<string, string> = {
  $seen: "seen",
  $flagged: "flagged",
  $answered: "answered",
  $draft: "draft",
  $deleted: "deleted",
};

/** A keyword test on the message `alias` (section 4.1.1: keywords compare case-insensitively). */
export function keywordSql(alias: string, keyword: unknown): SQL {
  if (
    typeof keyword !== "string" || !/^[\x21-\x7e]{1,255}$/.test(keyword) ||
    /[()[\]{}%*"\\]/.test(keyword)
  ) {
    throw invalidArguments(`"${String(keyword)}" is not a keyword`);
  }
  const k = keyword.toLowerCase();
  const column = SYSTEM[k];
  if (column) return sql.raw(`${alias}.${column} = 1`);
  return sql`EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(${sql.raw(alias)}.keywords)
    THEN ${sql.raw(alias)}.keywords ELSE '[]' END) WHERE lower(value) = ${k})`;
}

const contains = (column: SQL, value: unknown) => {
  if (typeof value !== "string") throw invalidArguments("a text filter needs a string");
  return sql`instr(lower(${column}), ${value.toLowerCase()}) > 0`;
};

/** A header field's value contains `value` (or the field exists), read from the parsed form. */
const headerSql = (name: string, value: string | undefined) =>
  sql`EXISTS (SELECT 1 FROM json_each(m.parsed, '$.headers') h
    WHERE lower(json_extract(h.value, '$.name')) = ${name.toLowerCase()}
    ${
    value === undefined
      ? sql``
      : sql`AND instr(lower(json_extract(h.value, '$.value')), ${value.toLowerCase()}) > 0`
  })`;

/** Keyed hashes of a query's filter words (crypt/search_tokens.ts), per request context. */
const filterHashes = new WeakMap<Ctx, Map<string, string[]>>();

/** Every string of a filter (its text and body words among them), for `wordHashes`. */
function filterStrings(filter: Json, out: string[] = []): string[] {
  if (typeof filter === "string") out.push(filter);
  else if (filter && typeof filter === "object") {
    for (const v of Object.values(filter)) filterStrings(v as Json, out);
  }
  return out;
}

function fts(ctx: Ctx, text: unknown, column?: "body"): SQL {
  if (typeof text !== "string") throw invalidArguments("a text filter needs a string");
  const match = buildMatch({ q: text }, filterHashes.get(ctx));
  if (match === undefined) return sql`0`;
  // Column filter: FTS5 section 3.6 `{body} : …` keeps the match to that column.
  const expr = column ? `{body} : (${match})` : match;
  return sql`m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ${expr})`;
}

const threadKeyword = (keyword: unknown, quantifier: "all" | "some" | "none") => {
  const test = keywordSql("t", keyword);
  if (quantifier === "some") {
    return sql`EXISTS (SELECT 1 FROM messages t WHERE t.thread_id = m.thread_id AND ${test})`;
  }
  const negated = quantifier === "all" ? sql`NOT (${test})` : test;
  return sql`NOT EXISTS (SELECT 1 FROM messages t WHERE t.thread_id = m.thread_id AND ${negated})`;
};

/** The filter as SQL over `messages m`; `uses.text` records whether FTS5 is needed. */
export function compileFilter(ctx: Ctx, filter: Json, uses: { text: boolean }, depth = 0): SQL {
  if (filter === undefined || filter === null) return sql`1`;
  if (typeof filter !== "object" || Array.isArray(filter) || depth > 16) {
    throw invalidArguments('"filter" must be a FilterOperator or FilterCondition');
  }
  if ("operator" in filter) {
    if (!Array.isArray(filter.conditions)) throw invalidArguments('"conditions" must be an array');
    const parts = filter.conditions.map((c: Json) => compileFilter(ctx, c, uses, depth + 1));
    if (parts.length === 0) return filter.operator === "OR" ? sql`0` : sql`1`;
    switch (filter.operator) {
      case "AND":
        return sql`(${sql.join(parts, sql` AND `)})`;
      case "OR":
        return sql`(${sql.join(parts, sql` OR `)})`;
      case "NOT":
        return sql`NOT (${sql.join(parts, sql` OR `)})`;
    }
    throw new MethodError("unsupportedFilter", `unknown operator "${filter.operator}"`);
  }
  const parts: SQL[] = [];
  for (const [key, value] of Object.entries(filter as Record<string, Json>)) {
    switch (key) {
      case "inMailbox":
        parts.push(sql`m.mailbox_id = ${parseMailboxId(resolveId(ctx, value)) ?? -1}`);
        break;
      case "inMailboxOtherThan": {
        if (!Array.isArray(value)) throw invalidArguments('"inMailboxOtherThan" is a list of ids');
        const ids = value.map((v) => parseMailboxId(resolveId(ctx, v)) ?? -1);
        parts.push(ids.length ? sql`m.mailbox_id NOT IN (${sql.join(ids, sql`, `)})` : sql`1`);
        break;
      }
      case "before":
      case "after": {
        const ms = parseDate(value);
        if (ms === undefined) throw invalidArguments(`"${key}" must be a UTCDate`);
        parts.push(key === "before" ? sql`m.internal_date < ${ms}` : sql`m.internal_date >= ${ms}`);
        break;
      }
      case "minSize":
      case "maxSize":
        if (!Number.isSafeInteger(value)) throw invalidArguments(`"${key}" must be an integer`);
        parts.push(key === "minSize" ? sql`m.size >= ${value}` : sql`m.size < ${value}`);
        break;
      case "hasKeyword":
        parts.push(keywordSql("m", value));
        break;
      case "notKeyword":
        parts.push(sql`NOT (${keywordSql("m", value)})`);
        break;
      case "allInThreadHaveKeyword":
        parts.push(threadKeyword(value, "all"));
        break;
      case "someInThreadHaveKeyword":
        parts.push(threadKeyword(value, "some"));
        break;
      case "noneInThreadHaveKeyword":
        parts.push(threadKeyword(value, "none"));
        break;
      case "hasAttachment":
        parts.push(sql`m.has_attachments = ${value === true ? 1 : 0}`);
        break;
      case "text":
        uses.text = true;
        // Section 4.4.1: any address header, the subject or the body.
        parts.push(
          sql`(${fts(ctx, value)} OR ${contains(sql`m.subject`, value)} OR ${
            contains(
              sql`m.from_address || ' ' || m.from_name || ' ' || m.to_json || ' ' || m.cc_json`,
              value,
            )
          })`,
        );
        break;
      case "body":
        uses.text = true;
        parts.push(fts(ctx, value, "body"));
        break;
      case "from":
        parts.push(contains(sql`m.from_address || ' ' || m.from_name`, value));
        break;
      case "to":
        parts.push(contains(sql`m.to_json`, value));
        break;
      case "cc":
        parts.push(contains(sql`m.cc_json`, value));
        break;
      case "bcc":
        if (typeof value !== "string") throw invalidArguments('"bcc" needs a string');
        parts.push(headerSql("bcc", value));
        break;
      case "subject":
        parts.push(contains(sql`m.subject`, value));
        break;
      case "header": {
        if (
          !Array.isArray(value) || value.length < 1 || value.length > 2 ||
          !value.every((v) => typeof v === "string")
        ) throw invalidArguments('"header" is [name] or [name, value]');
        parts.push(headerSql(value[0], value[1] === undefined ? undefined : decodeWords(value[1])));
        break;
      }
      default:
        throw new MethodError("unsupportedFilter", `unknown filter property "${key}"`);
    }
  }
  return parts.length ? sql`(${sql.join(parts, sql` AND `)})` : sql`1`;
}

/** Section 4.4.2 sort properties (and `id`, the tie-break keeping the order total). */
export function compileSort(sort: Json): SQL {
  const list = sort ?? [{ property: "receivedAt", isAscending: false }];
  if (!Array.isArray(list)) throw invalidArguments('"sort" must be an array');
  const keys: SQL[] = [];
  for (const c of list) {
    if (typeof c !== "object" || c === null) throw invalidArguments("a Comparator is an object");
    const dir = sql.raw(c.isAscending === false ? "DESC" : "ASC");
    switch (c.property) {
      case "receivedAt":
        keys.push(sql`m.internal_date ${dir}`);
        break;
      case "sentAt":
        keys.push(sql`m.sent_at ${dir}`);
        break;
      case "size":
        keys.push(sql`m.size ${dir}`);
        break;
      case "from":
        keys.push(sql`lower(coalesce(nullif(m.from_name, ''), m.from_address)) ${dir}`);
        break;
      case "to":
        keys.push(sql`lower(coalesce(nullif(json_extract(m.to_json, '$[0].name'), ''),
          json_extract(m.to_json, '$[0].address'), '')) ${dir}`);
        break;
      case "subject":
        // The base subject (RFC 5256 section 2.1, roughly): reply and forward prefixes dropped.
        keys.push(sql`lower(trim(CASE
          WHEN lower(substr(m.subject, 1, 3)) IN ('re:', 'fw:') THEN substr(m.subject, 4)
          WHEN lower(substr(m.subject, 1, 4)) = 'fwd:' THEN substr(m.subject, 5)
          ELSE m.subject END)) ${dir}`);
        break;
      case "hasKeyword":
      case "someInThreadHaveKeyword":
      case "allInThreadHaveKeyword": {
        const test = c.property === "hasKeyword"
          ? keywordSql("m", c.keyword)
          : threadKeyword(c.keyword, c.property === "allInThreadHaveKeyword" ? "all" : "some");
        keys.push(sql`(${test}) ${dir}`);
        break;
      }
      default:
        throw new MethodError("unsupportedSort", `cannot sort by "${c.property}"`);
    }
  }
  keys.push(sql`m.id DESC`);
  return sql.join(keys, sql`, `);
}

/** Every matching Email id in order (threads collapsed when asked). */
export async function queryAll(ctx: Ctx, accountId: number, args: Record<string, Json>) {
  const uses = { text: false };
  const words = filterStrings(args.filter ?? null);
  if (words.length > 0) {
    filterHashes.set(ctx, await wordHashes(ctx.deps.store.db, accountId, words));
  }
  const where = compileFilter(ctx, args.filter, uses);
  const order = compileSort(args.sort);
  if (uses.text) await catchUpSearchIndex(ctx.deps.store);
  const rows = await ctx.deps.store.db.all<{ id: number; threadId: number }>(sql`SELECT m.id AS id,
    m.thread_id AS threadId FROM messages m WHERE m.account_id = ${accountId} AND ${where}
    ORDER BY ${order}`);
  const seen = new Set<number>();
  const kept = args.collapseThreads === true
    ? rows.filter((r) => !seen.has(r.threadId) && seen.add(r.threadId))
    : rows;
  return kept.map((r) => ({ id: emailIdOf(r.id), threadId: r.threadId }));
}

export async function emailQuery(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const queryState = await currentState(ctx.deps.store.db, accountId, "Email");
  const all = await queryAll(ctx, accountId, args);
  return {
    accountId: args.accountId,
    queryState,
    canCalculateChanges: true,
    collapseThreads: args.collapseThreads === true,
    ...queryWindow(all.map((r) => r.id), args, MAX_QUERY_LIMIT),
  };
}

export async function emailQueryChanges(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const db = ctx.deps.store.db;
  const c = await changesSince(db, accountId, "Email", args.sinceQueryState, undefined);
  const all = await queryAll(ctx, accountId, args);
  const changed = new Set([...c.created, ...c.updated, ...c.destroyed].map(emailIdOf));
  if (args.collapseThreads === true) {
    // A change can move which Email stands for its Thread: every Email of an affected Thread is
    // removed and the Thread's current one added back (section 5.6 allows the extra removals).
    // States are one sequence across types, so the Thread rows after the same state name the
    // threads destroyed Emails were in.
    const rows = await emailRows(db, accountId, [...changed].map((i) => parseEmailId(i)!));
    const threads = new Set([...rows.values()].map((r) => r.threadId));
    const logged = await db.all<{ id: number }>(sql`SELECT DISTINCT object_id AS id
      FROM jmap_changes WHERE account_id = ${accountId} AND type = 'Thread'
      AND seq > ${Number(c.oldState)} AND seq <= ${Number(c.newState)}`);
    for (const r of logged) threads.add(Number(r.id));
    const list = [...threads];
    for (let i = 0; i < list.length; i += 90) {
      // D1 binds at most 100 parameters per statement.
      const members = await db.all<{ id: number }>(sql`SELECT id FROM messages
        WHERE account_id = ${accountId} AND thread_id IN (${
        sql.join(list.slice(i, i + 90), sql`, `)
      })`);
      for (const r of members) changed.add(emailIdOf(r.id));
    }
    for (const r of all) if (threads.has(r.threadId)) changed.add(r.id);
  }
  return queryChangesResponse(args, c, all.map((r) => r.id), changed);
}

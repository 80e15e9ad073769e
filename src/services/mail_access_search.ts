/**
 * IMAP SEARCH over one mailbox (RFC 3501 section 6.4.4, RFC 7162 section 3.1.5 MODSEQ): the
 * criteria tree of schemas/mail_access.ts compiled into one SQL condition, so a search is a
 * single query whatever its shape. Text keys are case-insensitive substring matches (the RFC's
 * semantics, which a word index cannot give: FTS5 tokens match whole words only), against the
 * decoded columns and the raw header fields; BODY searches the decoded text and HTML parts;
 * dates compare by UTC day, time of day and zone disregarded.
 */
import { hashedMatch, wordHashes } from "../crypt/search_tokens.ts";
import { catchUpSearchIndex } from "./search_index.ts";
import { and, asc, eq, not, or, type SQL, sql } from "drizzle-orm";
import type { SearchCriteria, SearchResult } from "../../schemas/mail_access.ts";
import { badRequest } from "../errors.ts";
import type { Queryable, Store } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { highestUid, UidMatcher } from "./mail_access.ts";
import { requireMailbox } from "./mailboxes.ts";

const m = schema.messages;
const DAY = 86_400_000;
const MAX_DEPTH = 40;
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

const SYSTEM: Record<string, SQL> = {
  "\\seen": sql`${m.seen}`,
  "\\answered": sql`${m.answered}`,
  "\\flagged": sql`${m.flagged}`,
  "\\deleted": sql`${m.deleted}`,
  "\\draft": sql`${m.draft}`,
};

/** UTC midnight of an IMAP (`1-Feb-1994`) or ISO (`1994-02-01`) date. */
export function dayStart(date: string): number {
  const iso = date.match(/^(\d{4})-(\d{2})-(\d{2})$/);
  const imap = date.match(/^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/);
  const ms = iso
    ? Date.UTC(+iso[1], +iso[2] - 1, +iso[3])
    : imap && MONTHS.includes(imap[2].toLowerCase())
    ? Date.UTC(+imap[3], MONTHS.indexOf(imap[2].toLowerCase()), +imap[1])
    : NaN;
  if (!Number.isFinite(ms)) {
    throw badRequest(`"${date}" is not a date`, [{ path: "criteria", message: "bad date" }]);
  }
  return ms;
}

const contains = (column: SQL, value: string) =>
  sql`instr(lower(coalesce(${column}, '')), lower(${value})) > 0`;

/** RFC 3501: a header with this field name whose value contains the string ("" = present). */
function header(field: string, value: string): SQL {
  // A value found in a header is found in the JSON text too (JSON.stringify escapes only
  // quotes, backslashes and control characters): that cheap scan spares most rows the
  // json_each walk.
  const escaped = [...value].some((ch) => ch === '"' || ch === "\\" || ch.charCodeAt(0) < 0x20);
  const precheck = escaped ? sql`1` : sql`instr(lower(${m.parsed}), lower(${value})) > 0`;
  return sql`(${precheck} AND EXISTS (SELECT 1 FROM json_each(${m.parsed}, '$.headers') h
    WHERE lower(json_extract(h.value, '$.name')) = lower(${field})
    AND instr(lower(json_extract(h.value, '$.value')), lower(${value})) > 0))`;
}

/**
 * RFC 3501 BODY: a substring of the body text, or, for a body sealed at rest, its words among
 * the keyed hashes the FTS5 index holds for it (crypt/search_tokens.ts: whole words only).
 */
function body(value: string, hashes: Map<string, string[]>): SQL {
  const clear = or(
    contains(sql`json_extract(${m.parsed}, '$.text')`, value),
    contains(sql`json_extract(${m.parsed}, '$.html')`, value),
  )!;
  const hashed = hashedMatch(value, hashes);
  if (!hashed) return clear;
  return sql`(${clear} OR ${m.id} IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ${`body : (${hashed})`}))`;
}

/** Every string value of the criteria (the BODY and TEXT ones among them). */
function criteriaStrings(c: unknown, out: string[] = []): string[] {
  if (typeof c === "string") out.push(c);
  else if (c && typeof c === "object") {
    for (const v of Object.values(c)) {
      criteriaStrings(v, out);
    }
  }
  return out;
}

function compile(
  c: SearchCriteria,
  highest: number,
  depth: number,
  hashes: Map<string, string[]>,
): SQL {
  if (depth > MAX_DEPTH) {
    throw badRequest("the search criteria nest too deeply", [{
      path: "criteria",
      message: `at most ${MAX_DEPTH} levels`,
    }]);
  }
  const next = (x: SearchCriteria) => compile(x, highest, depth + 1, hashes);
  switch (c.key) {
    case "all":
      return sql`1`;
    case "flag": {
      const col = SYSTEM[c.flag.toLowerCase()];
      const has = col ? sql`${col} = 1` : sql`EXISTS (SELECT 1 FROM json_each(${m.keywords}) k
            WHERE lower(k.value) = lower(${c.flag}))`;
      return c.present ? has : sql`NOT (${has})`;
    }
    case "before":
      return sql`${m.internalDate} < ${dayStart(c.date)}`;
    case "on":
      return sql`${m.internalDate} >= ${dayStart(c.date)} AND ${m.internalDate} < ${
        dayStart(c.date) + DAY
      }`;
    case "since":
      return sql`${m.internalDate} >= ${dayStart(c.date)}`;
    case "sentbefore":
      return sql`${m.sentAt} < ${dayStart(c.date)}`;
    case "senton":
      return sql`${m.sentAt} >= ${dayStart(c.date)} AND ${m.sentAt} < ${dayStart(c.date) + DAY}`;
    case "sentsince":
      return sql`${m.sentAt} >= ${dayStart(c.date)}`;
    case "larger":
      return sql`${m.size} > ${c.size}`;
    case "smaller":
      return sql`${m.size} < ${c.size}`;
    case "header":
      return header(c.field, c.value);
    case "subject":
      // The decoded Subject (RFC 2047 words decoded, as clients and Dovecot match it).
      return contains(sql`${m.subject}`, c.value);
    case "from":
      return or(
        contains(sql`${m.fromAddress}`, c.value),
        contains(sql`${m.fromName}`, c.value),
        header("from", c.value),
      )!;
    case "to":
      return or(contains(sql`${m.toJson}`, c.value), header("to", c.value))!;
    case "cc":
      return or(contains(sql`${m.ccJson}`, c.value), header("cc", c.value))!;
    case "bcc":
      return header("bcc", c.value);
    case "body":
      return body(c.value, hashes);
    case "text":
      return or(
        body(c.value, hashes),
        contains(sql`${m.subject}`, c.value),
        contains(sql`json_extract(${m.parsed}, '$.headers')`, c.value),
      )!;
    case "uid": {
      const ranges = new UidMatcher(c.uids, highest).ranges;
      return sql`EXISTS (SELECT 1 FROM json_each(${JSON.stringify(ranges)}) r
        WHERE ${m.uid} BETWEEN json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]'))`;
    }
    case "modseq":
      return sql`${m.modseq} >= ${c.modseq}`;
    case "and":
      return c.of.length === 0 ? sql`1` : sql`(${and(...c.of.map(next))})`;
    case "or":
      return sql`(${or(...c.of.map(next))})`;
    case "not":
      return not(next(c.of));
  }
}

export async function searchMailbox(
  db: Queryable,
  accountId: number,
  mailboxId: number,
  criteria: SearchCriteria,
  /** The store, to bring the search index up to date for sealed bodies. */
  store?: Store,
): Promise<SearchResult> {
  await requireMailbox(db, accountId, mailboxId);
  // Sealed bodies are searched through the index: it must hold every message first.
  const hashes = await wordHashes(db, accountId, criteriaStrings(criteria));
  if (hashes.size > 0 && store) await catchUpSearchIndex(store);
  const where = compile(criteria, await highestUid(db, mailboxId), 0, hashes);
  const rows = await db.select({ uid: m.uid, modseq: m.modseq }).from(m)
    .where(and(eq(m.mailboxId, mailboxId), sql`+${m.accountId} = ${accountId}`, where))
    .orderBy(asc(m.uid));
  return {
    uids: rows.map((r) => r.uid),
    highestModseq: rows.reduce((h, r) => Math.max(h, r.modseq), 0),
  };
}

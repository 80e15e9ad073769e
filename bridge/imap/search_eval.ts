/**
 * Evaluates a SEARCH criteria tree (schemas/mail_access.ts `SearchCriteria`, RFC 3501 section
 * 6.4.4) against one message held in memory: flags, internal and Date-header dates compared
 * by day, sizes, header substrings (case-insensitive), body and full-text substrings, UID sets
 * and MODSEQ. Used by the in-memory backend; the gateway evaluates the same tree in SQL.
 */
import { parseUidSet, type SearchCriteria } from "../../schemas/mail_access.ts";
import type { MimeStructure } from "../../schemas/mime_structure.ts";
import { parseHeaderFields } from "../../schemas/mime_header.ts";

export interface SearchableMessage {
  uid: number;
  flags: string[];
  modseq: number;
  internalDate: number;
  raw: Uint8Array;
  structure: MimeStructure;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** YYYY-MM-DD of an IMAP or ISO search date. */
function dayOf(date: string): string {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(date);
  if (!m) return date;
  const month = MONTHS.indexOf(m[2].toLowerCase()) + 1;
  return `${m[3]}-${String(month).padStart(2, "0")}-${m[1].padStart(2, "0")}`;
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function compareDay(ms: number | undefined, cmp: string, date: string): boolean {
  if (ms === undefined || Number.isNaN(ms)) return false;
  const a = isoDay(ms);
  const b = dayOf(date);
  if (cmp.endsWith("before")) return a < b;
  if (cmp.endsWith("on")) return a === b;
  return a >= b;
}

const decoder = new TextDecoder();

export function matches(m: SearchableMessage, c: SearchCriteria, maxUid: number): boolean {
  switch (c.key) {
    case "all":
      return true;
    case "flag":
      return m.flags.some((f) => f.toLowerCase() === c.flag.toLowerCase()) === c.present;
    case "before":
    case "on":
    case "since":
      return compareDay(m.internalDate, c.key, c.date);
    case "sentbefore":
    case "senton":
    case "sentsince": {
      const d = m.structure.envelope.date;
      return compareDay(d ? Date.parse(d.replace(/\([^)]*\)/g, "")) : undefined, c.key, c.date);
    }
    case "larger":
      return m.raw.byteLength > c.size;
    case "smaller":
      return m.raw.byteLength < c.size;
    case "header":
    case "from":
    case "to":
    case "cc":
    case "bcc":
    case "subject": {
      const field = c.key === "header" ? c.field : c.key;
      const b = m.structure.body;
      const fields = parseHeaderFields(m.raw, b.headerStart, b.headerEnd);
      const needle = c.value.toLowerCase();
      return fields.some((f) =>
        f.name.toLowerCase() === field.toLowerCase() && f.value.toLowerCase().includes(needle)
      );
    }
    case "body": {
      const b = m.structure.body;
      return decoder.decode(m.raw.subarray(b.bodyStart, b.bodyEnd)).toLowerCase()
        .includes(c.value.toLowerCase());
    }
    case "text":
      return decoder.decode(m.raw).toLowerCase().includes(c.value.toLowerCase());
    case "uid": {
      const ranges = parseUidSet(c.uids) ?? [];
      // `*` is the highest UID in use, so `N:*` always includes it (RFC 3501 section 9).
      return ranges.some(([a, b]) =>
        b === Infinity ? m.uid >= Math.min(a, maxUid) && m.uid <= maxUid : m.uid >= a && m.uid <= b
      );
    }
    case "modseq":
      return m.modseq >= c.modseq;
    case "and":
      return c.of.every((x) => matches(m, x, maxUid));
    case "or":
      return c.of.some((x) => matches(m, x, maxUid));
    case "not":
      return !matches(m, c.of, maxUid);
  }
}

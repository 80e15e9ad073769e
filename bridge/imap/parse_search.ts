/**
 * SEARCH criteria parsing: every search key of RFC 3501 section 6.4.4 (with the `search-key`
 * grammar of section 9), parenthesised groups, OR and NOT, sequence sets and UID sets, and the
 * MODSEQ key of CONDSTORE (RFC 7162 section 3.1.5). Keys in a list are ANDed.
 */
import type { DateCmp, SearchKey } from "./command.ts";
import type { Reader } from "./reader.ts";

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** `date = date-text / DQUOTE date-text DQUOTE`, date-text = d[d]-Mon-yyyy → YYYY-MM-DD. */
function searchDate(r: Reader): string {
  const quoted = r.eat('"');
  const text = r.atom("expected a date");
  if (quoted) r.expect('"', "unterminated date");
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  const month = m ? MONTHS.indexOf(m[2].toLowerCase()) : -1;
  if (!m || month < 0 || Number(m[1]) < 1 || Number(m[1]) > 31) r.fail(`bad date "${text}"`);
  return `${m[3]}-${String(month + 1).padStart(2, "0")}-${m[1].padStart(2, "0")}`;
}

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ["\\Answered", true],
  DELETED: ["\\Deleted", true],
  DRAFT: ["\\Draft", true],
  FLAGGED: ["\\Flagged", true],
  SEEN: ["\\Seen", true],
  UNANSWERED: ["\\Answered", false],
  UNDELETED: ["\\Deleted", false],
  UNDRAFT: ["\\Draft", false],
  UNFLAGGED: ["\\Flagged", false],
  UNSEEN: ["\\Seen", false],
};

const DATE_KEYS: Record<string, ["internal" | "sent", DateCmp]> = {
  BEFORE: ["internal", "before"],
  ON: ["internal", "on"],
  SINCE: ["internal", "since"],
  SENTBEFORE: ["sent", "before"],
  SENTON: ["sent", "on"],
  SENTSINCE: ["sent", "since"],
};

const HEADER_KEYS = new Set(["FROM", "TO", "CC", "BCC", "SUBJECT"]);

// Nesting bound: parenthesised groups deeper than this are refused rather than recursed.
const MAX_DEPTH = 50;

/** One or more space-separated keys to the end of the command, ANDed. */
export function parseSearchKeys(r: Reader): SearchKey {
  const keys = [searchKey(r, 0)];
  while (r.eat(" ")) keys.push(searchKey(r, 0));
  r.end();
  return keys.length === 1 ? keys[0] : { op: "and", keys };
}

function searchKey(r: Reader, depth: number): SearchKey {
  if (depth > MAX_DEPTH) r.fail("search keys nested too deeply");
  if (r.eat("(")) {
    const keys = [searchKey(r, depth + 1)];
    while (r.eat(" ")) keys.push(searchKey(r, depth + 1));
    r.expect(")", "unbalanced parentheses in search keys");
    return keys.length === 1 ? keys[0] : { op: "and", keys };
  }
  const c = r.peek();
  if (c === "*" || c === "$" || (c !== undefined && c >= "0" && c <= "9")) {
    return { op: "seq", set: r.sequenceSet() };
  }
  const name = r.atom("expected a search key").toUpperCase();
  if (name === "ALL") return { op: "all" };
  const flag = FLAG_KEYS[name];
  if (flag) return { op: "flag", flag: flag[0], set: flag[1] };
  const date = DATE_KEYS[name];
  if (date) {
    r.sp();
    return { op: "date", field: date[0], cmp: date[1], date: searchDate(r) };
  }
  if (HEADER_KEYS.has(name)) {
    r.sp();
    return { op: "header", field: name, value: r.astring() };
  }
  switch (name) {
    case "NEW":
      return {
        op: "and",
        keys: [{ op: "recent", set: true }, { op: "flag", flag: "\\Seen", set: false }],
      };
    case "OLD":
      return { op: "recent", set: false };
    case "RECENT":
      return { op: "recent", set: true };
    case "KEYWORD":
    case "UNKEYWORD":
      r.sp();
      return { op: "flag", flag: r.atom("expected a keyword"), set: name === "KEYWORD" };
    case "HEADER": {
      r.sp();
      const field = r.astring("expected a header field name");
      r.sp();
      return { op: "header", field, value: r.astring() };
    }
    case "BODY":
    case "TEXT":
      r.sp();
      return { op: name === "BODY" ? "body" : "text", value: r.astring() };
    case "LARGER":
    case "SMALLER":
      r.sp();
      return { op: "size", cmp: name === "LARGER" ? "larger" : "smaller", n: r.number() };
    case "UID":
      r.sp();
      return { op: "uid", set: r.sequenceSet() };
    case "NOT":
      r.sp();
      return { op: "not", key: searchKey(r, depth + 1) };
    case "OR": {
      r.sp();
      const a = searchKey(r, depth + 1);
      r.sp();
      return { op: "or", a, b: searchKey(r, depth + 1) };
    }
    case "MODSEQ": {
      r.sp();
      // Optional entry-name and entry-type-req (RFC 7162 section 3.1.5) are accepted, ignored.
      if (r.peek() === '"') {
        r.quoted();
        r.sp();
        r.atom("expected an entry type");
        r.sp();
      }
      return { op: "modseq", modseq: r.modseq() };
    }
    default:
      return r.fail(`unknown search key ${name}`);
  }
}

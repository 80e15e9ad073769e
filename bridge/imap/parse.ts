/**
 * The IMAP command parser (RFC 3501 sections 6 and 9 and the extensions listed in command.ts):
 * a command as received (text lines and literal octets) in, a typed command or an error out.
 * Never throws: malformed commands, unbalanced parentheses and invalid sequence sets are
 * results. Mailbox names are decoded from modified UTF-7 here.
 */
import {
  type AppendMessage,
  type Command,
  type ParseResult,
  type QresyncParam,
  type SearchKey,
  STATUS_ITEMS,
  type StatusItem,
} from "./command.ts";
import { decodeMailboxName } from "./mailbox_name.ts";
import { parseFetchItems } from "./parse_fetch.ts";
import { parseSearchKeys } from "./parse_search.ts";
import { type CommandParts, ParseError, Reader, type SequenceSet } from "./reader.ts";
import { SORT_KEYS, type SortCriterion } from "./sort_keys.ts";

export type { CommandParts } from "./reader.ts";

/** Longest command line (without literals) the server reads; RFC 7162 section 4 asks ≥ 8192. */
export const MAX_LINE_OCTETS = 64 * 1024;

// tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR is a CHAR (%x01-7F, RFC 3501 section 9),
// so a tag is printable ASCII. The line reader decodes UTF-8 leniently, so every octet above
// 0x7F (valid UTF-8 or not, where it became U+FFFD) is a code point above 0x7F here: checking
// for ASCII on the text is checking the octets. Such a tag cannot be echoed: `* BAD`.
const TAG_RE = /^[\x21-\x7e]+/;
const TAG_SPECIALS = /[(){%*"\\+]/;

/** The tag of a command line, if it has a valid one (for replies to commands that fail early). */
export function tagOf(line: string): string | undefined {
  const m = TAG_RE.exec(line);
  return m && line[m[0].length] === " " && !TAG_SPECIALS.test(m[0]) ? m[0] : undefined;
}

export function parseCommand(parts: CommandParts): ParseResult {
  const first = typeof parts[0] === "string" ? parts[0] : "";
  const tag = tagOf(first);
  if (!tag) return { ok: false, tag: "*", error: "missing or invalid tag" };
  const r = new Reader(parts);
  r.expect(tag);
  try {
    r.sp();
    const command = parseBody(r);
    r.end();
    return { ok: true, tag, command };
  } catch (e) {
    // The reason may quote the client's text: ASCII only, as the reply line must be.
    if (e instanceof ParseError) {
      return { ok: false, tag, error: e.message.replace(/[^\x20-\x7e]/g, "?") };
    }
    return { ok: false, tag, error: "malformed command" };
  }
}

const mailbox = (r: Reader) => decodeMailboxName(r.astring("expected a mailbox name"));

function parseBody(r: Reader): Command {
  let name = r.atom("expected a command name").toUpperCase();
  let uid = false;
  if (name === "UID") {
    uid = true;
    r.sp();
    name = r.atom("expected a command after UID").toUpperCase();
    if (!["FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD", "EXPUNGE"].includes(name)) {
      r.fail(`UID ${name} is not a command`);
    }
  }
  switch (name) {
    case "CAPABILITY":
    case "NOOP":
    case "LOGOUT":
    case "STARTTLS":
    case "CHECK":
    case "CLOSE":
    case "UNSELECT":
    case "IDLE":
    case "NAMESPACE":
      return { name };
    case "LOGIN": {
      r.sp();
      const user = r.astring("expected a user name");
      r.sp();
      return { name, user, password: r.astring("expected a password") };
    }
    case "AUTHENTICATE": {
      r.sp();
      const mechanism = r.atom("expected a SASL mechanism").toUpperCase();
      // SASL-IR (RFC 4959): an initial response may follow.
      if (r.eat(" ")) return { name, mechanism, initial: r.atom("expected a base64 response") };
      return { name, mechanism };
    }
    case "SELECT":
    case "EXAMINE": {
      r.sp();
      const mb = mailbox(r);
      let condstore = false;
      let qresync: QresyncParam | undefined;
      if (r.eat(" (")) {
        // select-param (RFC 7162 sections 3.1.8 and 3.2.5): CONDSTORE, QRESYNC.
        do {
          const p = r.atom("expected a select parameter").toUpperCase();
          if (p === "CONDSTORE") condstore = true;
          else if (p === "QRESYNC") qresync = qresyncParam(r);
          else r.fail(`unknown select parameter ${p}`);
        } while (r.eat(" "));
        r.expect(")", "unbalanced parentheses");
      }
      return qresync ? { name, mailbox: mb, condstore, qresync } : { name, mailbox: mb, condstore };
    }
    case "CREATE": {
      r.sp();
      const mb = mailbox(r);
      if (!r.eat(" (")) return { name, mailbox: mb };
      // create-params (RFC 4466 section 2.2) holding RFC 6154's USE (use-attr ...).
      let use: string[] | undefined;
      do {
        const p = r.atom("expected a create parameter").toUpperCase();
        if (p !== "USE" || use) r.fail(`unknown create parameter ${p}`);
        r.sp();
        use = r.flagList(false);
      } while (r.eat(" "));
      r.expect(")", "unbalanced parentheses");
      return { name, mailbox: mb, use };
    }
    case "DELETE":
    case "SUBSCRIBE":
    case "UNSUBSCRIBE":
      r.sp();
      return { name, mailbox: mailbox(r) };
    case "RENAME": {
      r.sp();
      const from = mailbox(r);
      r.sp();
      return { name, from, to: mailbox(r) };
    }
    case "LIST":
    case "LSUB":
      return parseList(r, name);
    case "STATUS": {
      r.sp();
      const mb = mailbox(r);
      r.sp();
      return { name, mailbox: mb, items: statusItems(r) };
    }
    case "APPEND":
      return parseAppend(r);
    case "EXPUNGE":
      if (uid) {
        r.sp();
        return { name, uid, set: r.sequenceSet() };
      }
      return { name, uid };
    case "SEARCH":
      return parseSearch(r, uid);
    case "SORT":
      return parseSort(r, uid);
    case "THREAD": {
      // thread = ["UID" SP] "THREAD" SP thread-alg SP search-charset SP search-criteria
      r.sp();
      const algorithm = r.atom("expected a threading algorithm").toUpperCase();
      if (algorithm !== "ORDEREDSUBJECT" && algorithm !== "REFERENCES") {
        r.fail(`unknown threading algorithm ${algorithm}`);
      }
      r.sp();
      const charset = r.astring("expected a charset").toUpperCase();
      r.sp();
      return { name, uid, algorithm, charset, criteria: parseSearchKeys(r) };
    }
    case "FETCH": {
      r.sp();
      const set = r.sequenceSet();
      r.sp();
      const items = parseFetchItems(r);
      let changedSince: number | undefined;
      let vanished = false;
      if (r.eat(" (")) {
        // fetch-modifier (RFC 7162 sections 3.1.4 and 3.2.6): CHANGEDSINCE, VANISHED.
        do {
          const m = r.atom("expected a fetch modifier").toUpperCase();
          if (m === "VANISHED") vanished = true;
          else if (m === "CHANGEDSINCE") {
            r.sp();
            changedSince = r.modseq();
          } else r.fail(`unknown fetch modifier ${m}`);
        } while (r.eat(" "));
        r.expect(")", "unbalanced parentheses");
        // Section 3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE.
        if (vanished && (!uid || changedSince === undefined)) {
          r.fail("VANISHED needs UID FETCH with CHANGEDSINCE");
        }
      }
      if (vanished) return { name, uid, set, items, changedSince, vanished };
      return { name, uid, set, items, changedSince };
    }
    case "STORE":
      return parseStore(r, uid);
    case "COPY":
    case "MOVE": {
      r.sp();
      const set = r.sequenceSet();
      r.sp();
      return { name, uid, set, mailbox: mailbox(r) };
    }
    case "ID": {
      r.sp();
      if (!r.eat("(")) {
        r.nstring();
        return { name, params: null };
      }
      const params: [string, string | null][] = [];
      if (!r.eat(")")) {
        do {
          const k = r.string();
          r.sp();
          params.push([k, r.nstring()]);
        } while (r.eat(" "));
        r.expect(")", "unbalanced parentheses");
      }
      return { name, params };
    }
    case "ENABLE": {
      const capabilities: string[] = [];
      while (r.eat(" ")) capabilities.push(r.atom("expected a capability").toUpperCase());
      if (capabilities.length === 0) r.fail("ENABLE needs a capability");
      return { name, capabilities };
    }
    case "GETQUOTAROOT":
      r.sp();
      return { name, mailbox: mailbox(r) };
    case "GETQUOTA":
      r.sp();
      return { name, root: r.astring() };
    default:
      return r.fail(`unknown command ${name}`);
  }
}

/** `QRESYNC (uidvalidity mod-sequence-value [SP known-uids] [SP seq-match-data])`. */
function qresyncParam(r: Reader): QresyncParam {
  r.sp();
  r.expect("(", "expected QRESYNC parameters");
  const uidValidity = r.number();
  r.sp();
  const modseq = r.modseq();
  let knownUids: SequenceSet | undefined;
  if (r.eat(" ")) {
    if (r.peek() !== "(") {
      knownUids = r.sequenceSet();
      r.eat(" ");
    }
    // seq-match-data helps a server without expunge history; this one keeps it: ignored.
    if (r.eat("(")) {
      r.sequenceSet();
      r.sp();
      r.sequenceSet();
      r.expect(")", "unbalanced parentheses");
    }
  }
  r.expect(")", "unbalanced parentheses");
  return { uidValidity, modseq, knownUids };
}

function statusItems(r: Reader): StatusItem[] {
  r.expect("(", "expected a status item list");
  const items: StatusItem[] = [];
  do {
    const item = r.atom("expected a status item").toUpperCase() as StatusItem;
    if (!STATUS_ITEMS.includes(item)) r.fail(`unknown status item ${item}`);
    items.push(item);
  } while (r.eat(" "));
  r.expect(")", "unbalanced parentheses");
  return items;
}

function parseList(r: Reader, name: "LIST" | "LSUB"): Command {
  r.sp();
  const cmd = {
    name,
    reference: "",
    patterns: [] as string[],
    specialUseOnly: false,
    subscribedOnly: name === "LSUB",
    returnSpecialUse: false,
    returnSubscribed: false,
    returnStatus: undefined as StatusItem[] | undefined,
  };
  if (name === "LIST" && r.eat("(")) {
    // list-select-opts (RFC 5258 section 3, RFC 6154 section 5.1)
    if (!r.eat(")")) {
      do {
        const o = r.atom("expected a selection option").toUpperCase();
        if (o === "SPECIAL-USE") cmd.specialUseOnly = true;
        else if (o === "SUBSCRIBED") cmd.subscribedOnly = cmd.returnSubscribed = true;
        else if (o !== "RECURSIVEMATCH" && o !== "REMOTE") r.fail(`unknown selection ${o}`);
      } while (r.eat(" "));
      r.expect(")", "unbalanced parentheses");
    }
    r.sp();
  }
  cmd.reference = decodeMailboxName(r.astring("expected a reference name"));
  r.sp();
  if (name === "LIST" && r.eat("(")) {
    do cmd.patterns.push(decodeMailboxName(r.listMailbox())); while (r.eat(" "));
    r.expect(")", "unbalanced parentheses");
  } else {
    cmd.patterns.push(decodeMailboxName(r.listMailbox()));
  }
  if (name === "LIST" && r.eat(" ")) {
    if (r.atom("expected RETURN").toUpperCase() !== "RETURN") r.fail("expected RETURN");
    r.sp();
    r.expect("(", "expected return options");
    if (!r.eat(")")) {
      do {
        const o = r.atom("expected a return option").toUpperCase();
        if (o === "SPECIAL-USE") cmd.returnSpecialUse = true;
        else if (o === "SUBSCRIBED") cmd.returnSubscribed = true;
        else if (o === "STATUS") {
          r.sp();
          cmd.returnStatus = statusItems(r);
        } else if (o !== "CHILDREN") r.fail(`unknown return option ${o}`);
      } while (r.eat(" "));
      r.expect(")", "unbalanced parentheses");
    }
  }
  return cmd;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
export function parseDateTime(text: string): number | undefined {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(
    text,
  );
  if (!m) return undefined;
  const month = MONTHS.findIndex((x) => x.toLowerCase() === m[2].toLowerCase());
  if (month < 0) return undefined;
  const utc = Date.UTC(+m[3], month, +m[1], +m[4], +m[5], +m[6]);
  const offset = (+m[8] * 60 + +m[9]) * 60_000 * (m[7] === "+" ? 1 : -1);
  const t = utc - offset;
  return Number.isFinite(t) ? t : undefined;
}

/** append = "APPEND" SP mailbox 1*append-message (RFC 3502 section 6, MULTIAPPEND). */
function parseAppend(r: Reader): Command {
  r.sp();
  const mb = mailbox(r);
  const messages: AppendMessage[] = [];
  while (r.eat(" ")) {
    let flags: string[] = [];
    let date: number | undefined;
    if (r.peek() === "(") {
      flags = r.flagList(false);
      r.sp();
    }
    if (r.peek() === '"') {
      const text = r.quoted();
      date = parseDateTime(text);
      if (date === undefined) r.fail("bad date-time");
      r.sp();
    }
    // RFC 3516 literal8 (`~{n}`) carries the same octets.
    r.eat("~");
    if (r.peek() !== "{") r.fail("APPEND needs the message as a literal");
    messages.push({ flags, date, message: r.stringBytes() });
  }
  if (messages.length === 0) r.fail("APPEND needs a message");
  return { name: "APPEND", mailbox: mb, messages };
}

/** search-return-opt (RFC 4731 section 3.1, RFC 5182 SAVE). */
const RETURN_OPTS = new Set(["MIN", "MAX", "COUNT", "ALL", "SAVE"]);

/** `RETURN (…) ` before the criteria (RFC 4731 search-return-opts, RFC 5267 sort's), if any. */
function returnOptions(r: Reader): string[] | undefined {
  if (!r.eat("RETURN (") && !r.eat("return (")) return undefined;
  const returnOpts: string[] = [];
  if (!r.eat(")")) {
    do {
      const o = r.atom("expected a return option").toUpperCase();
      if (!RETURN_OPTS.has(o)) r.fail(`unknown return option ${o}`);
      returnOpts.push(o);
    } while (r.eat(" "));
    r.expect(")", "unbalanced parentheses");
  }
  r.sp();
  return returnOpts;
}

function parseSearch(r: Reader, uid: boolean): Command {
  r.sp();
  let charset: string | undefined;
  const returnOpts = returnOptions(r);
  if (r.eat("CHARSET ") || r.eat("charset ")) {
    charset = r.astring("expected a charset").toUpperCase();
    r.sp();
  }
  const criteria: SearchKey = parseSearchKeys(r);
  return { name: "SEARCH", uid, charset, criteria, returnOpts };
}

/**
 * sort = ["UID" SP] "SORT" [SP sort-return-opts] SP sort-criteria SP search-criteria (RFC 5256
 * section 5, RFC 5267 section 3.2).
 */
function parseSort(r: Reader, uid: boolean): Command {
  r.sp();
  const returnOpts = returnOptions(r);
  r.expect("(", "expected sort criteria");
  const sort: SortCriterion[] = [];
  do {
    let key = r.atom("expected a sort key").toUpperCase();
    const reverse = key === "REVERSE";
    if (reverse) {
      r.sp();
      key = r.atom("expected a sort key").toUpperCase();
    }
    if (!SORT_KEYS.has(key)) r.fail(`unknown sort key ${key}`);
    sort.push({ key: key as SortCriterion["key"], reverse });
  } while (r.eat(" "));
  r.expect(")", "unbalanced parentheses");
  r.sp();
  // The charset is required here (unlike SEARCH's optional CHARSET).
  const charset = r.astring("expected a charset").toUpperCase();
  r.sp();
  const criteria = parseSearchKeys(r);
  return returnOpts
    ? { name: "SORT", uid, sort, charset, criteria, returnOpts }
    : { name: "SORT", uid, sort, charset, criteria };
}

function parseStore(r: Reader, uid: boolean): Command {
  r.sp();
  const set = r.sequenceSet();
  r.sp();
  let unchangedSince: number | undefined;
  if (r.eat("(")) {
    // store-modifier (RFC 7162 section 3.1.3): UNCHANGEDSINCE.
    const m = r.atom("expected a store modifier").toUpperCase();
    if (m !== "UNCHANGEDSINCE") r.fail(`unknown store modifier ${m}`);
    r.sp();
    unchangedSince = r.modseq();
    r.expect(")", "unbalanced parentheses");
    r.sp();
  }
  const item = r.atom("expected FLAGS, +FLAGS or -FLAGS").toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(item);
  if (!m) return r.fail(`bad store item ${item}`);
  r.sp();
  const flags = r.flagList(true);
  const mode = m[1] === "+" ? "add" : m[1] === "-" ? "remove" : "set";
  return { name: "STORE", uid, set, mode, silent: m[2] !== undefined, flags, unchangedSince };
}

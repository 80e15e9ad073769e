/**
 * SEARCH and UID SEARCH (RFC 3501 section 6.4.4): the parsed key tree becomes the backend's
 * criteria tree in one call, with sequence-number keys turned into UID sets through the
 * session's view. CHARSET UTF-8 and US-ASCII are accepted (others: NO [BADCHARSET]); a MODSEQ
 * key adds the highest modseq to the result (RFC 7162 section 3.1.5); RETURN (SAVE) keeps the
 * result as `$` (RFC 5182).
 */
import { formatOrderedSet, formatUidSet, type SearchCriteria } from "../../schemas/mail_access.ts";
import type { Command, SearchKey } from "./command.ts";
import type { SequenceSet } from "./reader.ts";
import type { ImapSession } from "./session.ts";
import type { Selected } from "./session_types.ts";
import { refresh, resolveSet, seqOf } from "./session_view.ts";

const NONE: SearchCriteria = { key: "not", of: { key: "all" } };

class InvalidSet extends Error {}

function uidCriteria(uids: number[]): SearchCriteria {
  return uids.length > 0 ? { key: "uid", uids: formatUidSet(uids) } : NONE;
}

function toCriteria(session: ImapSession, sel: Selected, k: SearchKey): SearchCriteria {
  const set = (s: SequenceSet, uid: boolean) => {
    const targets = resolveSet(session, sel, s, uid);
    if (!targets) throw new InvalidSet();
    return uidCriteria(targets.map((t) => t.uid));
  };
  switch (k.op) {
    case "all":
      return { key: "all" };
    case "and":
      return { key: "and", of: k.keys.map((x) => toCriteria(session, sel, x)) };
    case "or":
      return { key: "or", of: [toCriteria(session, sel, k.a), toCriteria(session, sel, k.b)] };
    case "not":
      return { key: "not", of: toCriteria(session, sel, k.key) };
    case "seq":
      return set(k.set, false);
    case "uid":
      return set(k.set, true);
    case "flag":
      return { key: "flag", flag: k.flag, present: k.set };
    case "recent": {
      // \Recent lives in the session (recent.ts), not the store: a UID set of its messages.
      const recent = uidCriteria([...sel.recent].sort((a, b) => a - b));
      return k.set ? recent : { key: "not", of: recent };
    }
    case "header": {
      const f = k.field.toLowerCase();
      if (["from", "to", "cc", "bcc", "subject"].includes(f)) {
        return { key: f as "from", value: k.value };
      }
      return { key: "header", field: k.field, value: k.value };
    }
    case "body":
    case "text":
      return { key: k.op, value: k.value };
    case "date": {
      const key = k.field === "sent" ? `sent${k.cmp}` : k.cmp;
      return { key: key as "before", date: k.date };
    }
    case "size":
      return { key: k.cmp, size: k.n };
    case "modseq":
      return { key: "modseq", modseq: k.modseq };
  }
}

const hasModseq = (k: SearchKey): boolean =>
  k.op === "modseq" ||
  (k.op === "and" && k.keys.some(hasModseq)) ||
  (k.op === "or" && (hasModseq(k.a) || hasModseq(k.b))) ||
  (k.op === "not" && hasModseq(k.key));

/**
 * `* ESEARCH (TAG "t") [UID] MIN … MAX … COUNT … ALL …` (RFC 4731 section 3.1): `RETURN ()`
 * means ALL; MIN, MAX and ALL are left out when nothing matched, COUNT 0 is not. With a MODSEQ
 * key the highest modseq of the matches follows (RFC 7162 section 3.1.10). `ids` are in answer
 * order: ascending for SEARCH, the sort order for ESORT, whose MIN and MAX are the first and
 * last sorted (RFC 5267 section 3.2, as Dovecot answers).
 */
export function esearch(
  tag: string,
  uid: boolean,
  opts: string[],
  ids: number[],
  modseq?: number,
): string {
  const want = (o: string) => opts.includes(o) || (o === "ALL" && opts.every((x) => x === "SAVE"));
  // The tag is an ASTRING-CHAR run without '"' or '\\' (parse.ts TAG_SPECIALS): quotable as is.
  let s = `ESEARCH (TAG "${tag}")${uid ? " UID" : ""}`;
  if (ids.length > 0) {
    if (want("MIN")) s += ` MIN ${ids[0]}`;
    if (want("MAX")) s += ` MAX ${ids[ids.length - 1]}`;
  }
  if (want("COUNT")) s += ` COUNT ${ids.length}`;
  if (ids.length > 0 && want("ALL")) s += ` ALL ${formatOrderedSet(ids)}`;
  if (modseq !== undefined) s += ` MODSEQ ${modseq}`;
  return s;
}

/**
 * Runs the search part of SEARCH and SORT: the matching UIDs this session knows (ascending),
 * or undefined after answering the command (bad charset or set).
 */
export async function runSearch(
  session: ImapSession,
  tag: string,
  key: SearchKey,
  charset: string | undefined,
): Promise<{ known: number[]; highestModseq: number; withModseq: boolean } | undefined> {
  const sel = session.selected!;
  if (charset && charset !== "UTF-8" && charset !== "US-ASCII") {
    session.no(tag, "unsupported charset", "BADCHARSET (UTF-8 US-ASCII)");
    return undefined;
  }
  let criteria: SearchCriteria;
  try {
    criteria = toCriteria(session, sel, key);
  } catch (e) {
    if (e instanceof InvalidSet) {
      session.bad(tag, "invalid message sequence number");
      return undefined;
    }
    throw e;
  }
  const withModseq = hasModseq(key);
  if (withModseq) session.condstore = true;
  const r = await session.account!.search(sel.id, criteria);
  // Only messages this session knows (a message that arrived since is announced first).
  const known = r.uids.filter((u) => sel.entries.has(u)).sort((a, b) => a - b);
  return { known, highestModseq: r.highestModseq, withModseq };
}

/**
 * runSearch for a command that may RETURN (SAVE): a SAVE whose search fails leaves `$` empty,
 * not stale (RFC 5182 section 2.1); the search itself still reads the old `$`.
 */
export async function runSaving(
  session: ImapSession,
  tag: string,
  key: SearchKey,
  charset: string | undefined,
  returnOpts: string[] | undefined,
): ReturnType<typeof runSearch> {
  const save = returnOpts?.includes("SAVE");
  try {
    const found = await runSearch(session, tag, key, charset);
    if (!found && save) session.savedSearch = [];
    return found;
  } catch (e) {
    if (save) session.savedSearch = [];
    throw e;
  }
}

/**
 * RETURN (SAVE …): the result becomes `$` (RFC 5182). With MIN and/or MAX but neither ALL nor
 * COUNT only those are kept (section 2.4); `uids` are in answer order (ESORT's MIN is the first
 * sorted).
 */
export function saveResult(session: ImapSession, opts: string[], uids: number[]): void {
  if (!opts.includes("SAVE")) return;
  const only = !opts.includes("ALL") && !opts.includes("COUNT") &&
    (opts.includes("MIN") || opts.includes("MAX"));
  const ends = [opts.includes("MIN") ? uids[0] : 0, opts.includes("MAX") ? uids.at(-1)! : 0];
  session.savedSearch = only && uids.length > 0
    ? [...new Set(ends.filter((u) => u > 0))]
    : [...uids].sort((a, b) => a - b);
}

export async function searchCommand(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "SEARCH" }>,
): Promise<void> {
  const sel = session.selected!;
  const found = await runSaving(session, tag, cmd.criteria, cmd.charset, cmd.returnOpts);
  if (!found) return;
  const { known, withModseq } = found;
  const ids = cmd.uid ? known : known.map((u) => seqOf(sel, u)).sort((a, b) => a - b);
  const opts = cmd.returnOpts;
  if (opts) saveResult(session, opts, known);
  const modseq = withModseq && ids.length > 0 ? found.highestModseq : undefined;
  if (!opts) {
    session.untagged(
      `SEARCH${ids.map((n) => " " + n).join("")}${modseq ? ` (MODSEQ ${modseq})` : ""}`,
    );
  } else if (opts.length === 0 || opts.some((o) => o !== "SAVE")) {
    session.untagged(esearch(tag, cmd.uid, opts, ids, modseq));
  }
  await refresh(session, cmd.uid);
  session.ok(tag, "SEARCH completed");
}

/**
 * Mailbox commands (RFC 3501 sections 6.3.1–6.3.11): SELECT and EXAMINE (with CONDSTORE's
 * HIGHESTMODSEQ, RFC 7162 section 3.1.2), CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 * LIST and LSUB with "%"/"*" patterns, SPECIAL-USE attributes (RFC 6154) and LIST-EXTENDED
 * selection and return options (RFC 5258, RFC 5819 STATUS), STATUS, and APPEND with flags and
 * date, several at once with MULTIAPPEND (RFC 3502), answered with APPENDUID (RFC 4315).
 * CREATE takes a special use (RFC 6154 section 3, CREATE-SPECIAL-USE): one per mailbox, each
 * held by one mailbox of the account (as JMAP keeps roles), else NO [USEATTR].
 * "INBOX" is case-insensitive (section 5.1).
 */
import { canonicalMailboxName, mailboxNameProblem } from "../../schemas/api_mail.ts";
import { formatUidSet } from "../../schemas/mail_access.ts";
import { type CreatableRole, ImapError, type MailboxInfo } from "./backend.ts";
import type { Command, StatusItem } from "./command.ts";
import { astring, flagList } from "./encode.ts";
import { encodeMailboxName } from "./mailbox_name.ts";
import type { ImapSession } from "./session.ts";
import { validFlags } from "./session_store.ts";
import { RecentClaims } from "./recent.ts";
import { expandSet, type SequenceSet } from "./reader.ts";
import type { Selected } from "./session_types.ts";
import { claimRecent, flagsItems, refresh } from "./session_view.ts";

const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

const SPECIAL_USE: Record<string, string> = {
  sent: "\\Sent",
  drafts: "\\Drafts",
  trash: "\\Trash",
  junk: "\\Junk",
  archive: "\\Archive",
};

/** CREATE (USE (…)) attributes by lower-cased name; \All, \Flagged and others cannot be made. */
const CREATABLE: Record<string, CreatableRole> = Object.fromEntries(
  Object.entries(SPECIAL_USE).map(([role, attr]) => [attr.toLowerCase(), role as CreatableRole]),
);
const useAttr = (lower: string) => SPECIAL_USE[CREATABLE[lower]];

export async function findMailbox(
  session: ImapSession,
  name: string,
  code = "NONEXISTENT",
): Promise<MailboxInfo> {
  const wanted = canonicalMailboxName(name.replace(/\/+$/, ""));
  const found = (await session.account!.mailboxes()).find((m) => m.name === wanted);
  if (!found) throw new ImapError(code, "no such mailbox");
  return found;
}

const wire = (name: string) => astring(encodeMailboxName(name));

export async function mailboxCommand(
  session: ImapSession,
  tag: string,
  cmd: Command,
): Promise<void> {
  const account = session.account!;
  switch (cmd.name) {
    case "SELECT":
    case "EXAMINE":
      if (cmd.qresync && !session.qresync) {
        // RFC 7162 section 3.2.5: QRESYNC without ENABLE QRESYNC first is an error.
        return session.bad(tag, "QRESYNC needs ENABLE QRESYNC first");
      }
      return await select(session, tag, cmd);
    case "CREATE": {
      const name = canonicalMailboxName(cmd.mailbox.replace(/\/+$/, ""));
      const problem = mailboxNameProblem(name);
      if (problem) return session.no(tag, `mailbox name ${problem}`, "CANNOT");
      if (name === "INBOX") return session.no(tag, "INBOX already exists", "ALREADYEXISTS");
      let role: CreatableRole | undefined;
      if (cmd.use && cmd.use.length > 0) {
        // RFC 6154 section 3: a use that cannot be given refuses the CREATE with USEATTR.
        role = cmd.use.length === 1 ? CREATABLE[cmd.use[0].toLowerCase()] : undefined;
        if (!role) {
          return session.no(
            tag,
            `a mailbox takes one of ${Object.keys(CREATABLE).map(useAttr).join(" ")}`,
            "USEATTR",
          );
        }
      }
      await account.createMailbox(name, role);
      return session.ok(tag, "CREATE completed");
    }
    case "DELETE": {
      const box = await findMailbox(session, cmd.mailbox);
      if (box.name === "INBOX") return session.no(tag, "INBOX cannot be deleted", "CANNOT");
      if (session.selected?.id === box.id) return session.no(tag, "mailbox is selected", "INUSE");
      await account.deleteMailbox(box.id);
      return session.ok(tag, "DELETE completed");
    }
    case "RENAME": {
      const box = await findMailbox(session, cmd.from);
      const to = canonicalMailboxName(cmd.to.replace(/\/+$/, ""));
      const problem = mailboxNameProblem(to);
      if (problem) return session.no(tag, `mailbox name ${problem}`, "CANNOT");
      if (box.name === "INBOX") return session.no(tag, "renaming INBOX is not supported", "CANNOT");
      await account.renameMailbox(box.id, to);
      return session.ok(tag, "RENAME completed");
    }
    case "SUBSCRIBE":
    case "UNSUBSCRIBE": {
      const box = await findMailbox(session, cmd.mailbox);
      await account.setSubscribed(box.id, cmd.name === "SUBSCRIBE");
      return session.ok(tag, `${cmd.name} completed`);
    }
    case "LIST":
    case "LSUB":
      return await list(session, tag, cmd);
    case "STATUS": {
      const box = await findMailbox(session, cmd.mailbox);
      session.untagged(`STATUS ${wire(box.name)} (${statusData(session, box, cmd.items)})`);
      return session.ok(tag, "STATUS completed");
    }
    case "APPEND":
      return await append(session, tag, cmd);
    default:
      return session.bad(tag, "unexpected command");
  }
}

/**
 * APPEND, with MULTIAPPEND (RFC 3502): every message is checked before any is stored, then
 * they are stored all at once in one write job of the gateway (`appendMany`), so the command
 * stores all of them or none (section 3) and no other session glimpses a part. A backend
 * without it stores them in order and expunges those already stored if one fails.
 * APPENDUID names the new UIDs as a set (RFC 4315 section 3).
 */
async function append(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "APPEND" }>,
): Promise<void> {
  for (const m of cmd.messages) {
    const bad = validFlags(m.flags);
    if (bad) return session.bad(tag, bad);
    if (m.message.byteLength === 0) return session.no(tag, "the message is empty", "CANNOT");
  }
  const account = session.account!;
  const box = await findMailbox(session, cmd.mailbox, "TRYCREATE");
  const uids: number[] = [];
  let uidValidity = box.uidValidity;
  try {
    if (cmd.messages.length > 1 && account.appendMany) {
      const stored = await account.appendMany(
        box.id,
        cmd.messages.map((m) => ({ raw: m.message, flags: m.flags, internalDate: m.date })),
      );
      for (const r of stored) {
        uids.push(r.uid);
        uidValidity = r.uidValidity;
      }
    } else {
      for (const m of cmd.messages) {
        const r = await account.append(box.id, m.message, { flags: m.flags, internalDate: m.date });
        uids.push(r.uid);
        uidValidity = r.uidValidity;
      }
    }
  } catch (e) {
    if (uids.length > 0) {
      try {
        await account.store(box.id, { uids, op: "add", flags: ["\\Deleted"] });
        await account.expunge(box.id, uids);
      } catch { /* the original failure is the one to report */ }
    }
    throw e;
  } finally {
    // Appending to the selected mailbox announces the new messages (EXISTS) at once.
    if (uids.length > 0 && session.selected?.id === box.id) session.selected.dirty = true;
  }
  if (session.selected?.id === box.id) await refresh(session, true);
  session.ok(tag, "APPEND completed", `APPENDUID ${uidValidity} ${formatUidSet(uids)}`);
}

function statusData(session: ImapSession, box: MailboxInfo, items: StatusItem[]): string {
  const sel = session.selected;
  const recent = !items.includes("RECENT")
    ? 0
    : sel?.id === box.id
    ? sel.recent.size
    : session.recentClaims.count(
      RecentClaims.key(session.account!.address, box.id, box.uidValidity),
      box.uidNext,
      box.exists,
    );
  const value: Record<StatusItem, number> = {
    MESSAGES: box.exists,
    RECENT: recent,
    UIDNEXT: box.uidNext,
    UIDVALIDITY: box.uidValidity,
    UNSEEN: box.unseen,
    HIGHESTMODSEQ: box.highestModseq,
    SIZE: box.sizeBytes,
  };
  return items.map((i) => `${i} ${value[i]}`).join(" ");
}

async function select(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "SELECT" | "EXAMINE" }>,
): Promise<void> {
  const readOnly = cmd.name === "EXAMINE";
  const { mailbox: name, condstore } = cmd;
  // RFC 7162 section 3.2.11: a QRESYNC client learns where the old mailbox's responses end.
  if (session.selected && session.qresync) session.untagged("OK [CLOSED] previous mailbox closed");
  // A failed SELECT leaves no mailbox selected (section 6.3.1); `$` is reset on selection
  // (RFC 5182 section 2.1).
  session.selected = undefined;
  session.savedSearch = [];
  session.state = "auth";
  const box = await findMailbox(session, name);
  const { mailbox, items } = await session.account!.index(box.id);
  if (condstore) session.condstore = true;
  const keywords = new Set<string>();
  for (const e of items) for (const f of e.flags) if (!f.startsWith("\\")) keywords.add(f);
  session.selected = {
    id: box.id,
    name: box.name,
    readOnly,
    uidValidity: mailbox.uidValidity,
    uidNext: mailbox.uidNext,
    highestModseq: mailbox.highestModseq,
    uids: items.map((e) => e.uid),
    entries: new Map(items.map((e) => [e.uid, e])),
    keywords,
    recent: new Set(),
    pendingExpunge: new Set(),
    dirty: false,
  };
  claimRecent(session, session.selected, session.selected.uids, mailbox.uidNext);
  session.state = "selected";
  announceFlags(session);
  session.untagged(`${items.length} EXISTS`);
  session.untagged(`${session.selected.recent.size} RECENT`);
  const firstUnseen = items.findIndex((e) => !e.flags.includes("\\Seen"));
  if (firstUnseen >= 0) session.untagged(`OK [UNSEEN ${firstUnseen + 1}] first unseen`);
  session.untagged(`OK [UIDVALIDITY ${mailbox.uidValidity}] UIDs valid`);
  session.untagged(`OK [UIDNEXT ${mailbox.uidNext}] predicted next UID`);
  session.untagged(`OK [HIGHESTMODSEQ ${mailbox.highestModseq}] highest`);
  const q = cmd.qresync;
  if (q && q.uidValidity === mailbox.uidValidity) await resync(session, q.modseq, q.knownUids);
  session.ok(
    tag,
    `${readOnly ? "EXAMINE" : "SELECT"} completed`,
    readOnly ? "READ-ONLY" : "READ-WRITE",
  );
}

/**
 * QRESYNC's quick resynchronisation (RFC 7162 section 3.2.5): `* VANISHED (EARLIER)` for what
 * was expunged since the client's modseq (among its known UIDs), then FLAGS and MODSEQ of every
 * message changed since, from the index just loaded.
 */
async function resync(session: ImapSession, since: number, known?: SequenceSet): Promise<void> {
  const sel = session.selected!;
  await announceVanished(session, sel, since, known);
  sel.uids.forEach((uid, i) => {
    const e = sel.entries.get(uid)!;
    if (e.modseq > since) session.untagged(`${i + 1} FETCH (${flagsItems(session, e, true)})`);
  });
}

/** `* VANISHED (EARLIER) uid-set`: UIDs in `within` expunged after modseq `since`. */
export async function announceVanished(
  session: ImapSession,
  sel: Selected,
  since: number,
  within?: SequenceSet,
): Promise<void> {
  const ch = await session.account!.changes(sel.id, since);
  let gone = ch.expunged;
  if (within && !("saved" in within)) {
    const ranges = expandSet(within, Math.max(sel.uidNext - 1, 1));
    gone = gone.filter((u) => ranges.some(([lo, hi]) => u >= lo && u <= hi));
  }
  if (gone.length > 0) session.untagged(`VANISHED (EARLIER) ${formatUidSet(gone)}`);
}

/** FLAGS and PERMANENTFLAGS of the selected mailbox (RFC 3501 sections 7.2.6, 7.1). */
export function announceFlags(session: ImapSession): void {
  const sel = session.selected!;
  const flags = [...SYSTEM_FLAGS, ...sel.keywords];
  session.untagged(`FLAGS ${flagList(flags)}`);
  session.untagged(
    `OK [PERMANENTFLAGS ${sel.readOnly ? "()" : flagList([...flags, "\\*"])}] flags permitted`,
  );
}

/** Announces FLAGS again when `entries` bring keywords the client has not been told of. */
export function noteKeywords(session: ImapSession, flags: Iterable<string>): void {
  const sel = session.selected!;
  let fresh = false;
  for (const f of flags) {
    if (!f.startsWith("\\") && !sel.keywords.has(f)) {
      sel.keywords.add(f);
      fresh = true;
    }
  }
  if (fresh) announceFlags(session);
}

/** A LIST pattern as a RegExp: "*" matches anything, "%" anything but the separator. */
function patternRe(pattern: string): RegExp {
  const body = [...pattern].map((c) =>
    c === "*" ? ".*" : c === "%" ? "[^/]*" : c.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
  ).join("");
  // INBOX matches case-insensitively (section 5.1).
  return new RegExp(`^${body.replace(/^INBOX/i, "(?:INBOX|inbox|Inbox)")}$`, "u");
}

async function list(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "LIST" | "LSUB" }>,
): Promise<void> {
  if (cmd.patterns.length === 1 && cmd.patterns[0] === "" && cmd.name === "LIST") {
    // Section 6.3.8: an empty pattern asks for the delimiter and root.
    session.untagged(`LIST (\\Noselect) "/" ""`);
    return session.ok(tag, "LIST completed");
  }
  const boxes = await session.account!.mailboxes();
  const names = new Set(boxes.map((b) => b.name));
  const res = cmd.patterns.map((p) => patternRe(cmd.reference + p));
  for (const box of boxes) {
    const match = res.some((re) => re.test(box.name)) ||
      (box.name === "INBOX" && res.some((re) => re.test("inbox")));
    if (!match) continue;
    if (cmd.subscribedOnly && !box.subscribed) continue;
    const use = box.role ? SPECIAL_USE[box.role] : undefined;
    if (cmd.specialUseOnly && !use) continue;
    const attrs: string[] = [];
    const children = [...names].some((n) => n.startsWith(box.name + "/"));
    attrs.push(children ? "\\HasChildren" : "\\HasNoChildren");
    if (cmd.returnSubscribed && box.subscribed) attrs.push("\\Subscribed");
    if (use && cmd.name === "LIST") attrs.push(use);
    session.untagged(`${cmd.name} (${attrs.join(" ")}) "/" ${wire(box.name)}`);
    if (cmd.returnStatus) {
      session.untagged(
        `STATUS ${wire(box.name)} (${statusData(session, box, cmd.returnStatus)})`,
      );
    }
  }
  session.ok(tag, `${cmd.name} completed`);
}

/**
 * The selected mailbox as the client sees it: message sequence numbers against UIDs (RFC 3501
 * section 2.3.1), sequence and UID sets resolved to messages, and the unsolicited updates
 * (section 7.3.1 EXISTS, 7.4.1 EXPUNGE, 7.4.2 FETCH FLAGS) that keep the client's view in
 * step with the store, fetched with one `changes` call only after a change notification.
 */
import type { IndexEntry } from "./backend.ts";
import { formatUidSet } from "../../schemas/mail_access.ts";
import { flagList } from "./encode.ts";
import { expandSet, type SequenceSet } from "./reader.ts";
import type { ImapSession } from "./session.ts";
import type { Selected } from "./session_types.ts";
import { RecentClaims } from "./recent.ts";
import { noteKeywords } from "./session_mailbox.ts";

export interface Target {
  uid: number;
  seq: number;
}

/** Sequence number of a UID (binary search over the ascending UID list), or 0. */
export function seqOf(sel: Selected, uid: number): number {
  let lo = 0;
  let hi = sel.uids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sel.uids[mid];
    if (v === uid) return mid + 1;
    if (v < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

/**
 * The messages a set names, ascending. A sequence number past the end is an error (undefined);
 * UIDs that do not exist are skipped (RFC 3501 section 6.4.8).
 */
export function resolveSet(
  session: ImapSession,
  sel: Selected,
  set: SequenceSet,
  uid: boolean,
): Target[] | undefined {
  const out = new Map<number, Target>();
  if ("saved" in set) {
    for (const u of session.savedSearch) {
      const seq = seqOf(sel, u);
      if (seq > 0) out.set(u, { uid: u, seq });
    }
  } else if (uid) {
    const max = sel.uids.at(-1) ?? 0;
    for (const [lo, hi] of expandSet(set, max)) {
      let i = lowerBound(sel.uids, lo);
      for (; i < sel.uids.length && sel.uids[i] <= hi; i++) {
        out.set(sel.uids[i], { uid: sel.uids[i], seq: i + 1 });
      }
    }
  } else {
    const max = sel.uids.length;
    for (const [lo, hi] of expandSet(set, max)) {
      if (max === 0) continue; // "*" in an empty mailbox names nothing
      if (hi > max || lo < 1) return undefined;
      for (let s = lo; s <= hi; s++) out.set(sel.uids[s - 1], { uid: sel.uids[s - 1], seq: s });
    }
  }
  return [...out.values()].sort((a, b) => a.uid - b.uid);
}

function lowerBound(arr: number[], v: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Removes messages from the view, sending `* n EXPUNGE` for each (highest first), or one
 * `* VANISHED uid-set` once QRESYNC is enabled (RFC 7162 section 3.2.10).
 */
export function announceExpunge(session: ImapSession, sel: Selected, uids: Iterable<number>) {
  const seqs = [...uids].map((u) => seqOf(sel, u)).filter((s) => s > 0).sort((a, b) => b - a);
  const gone: number[] = [];
  for (const seq of seqs) {
    const uid = sel.uids[seq - 1];
    sel.uids.splice(seq - 1, 1);
    sel.entries.delete(uid);
    sel.recent.delete(uid);
    sel.pendingExpunge.delete(uid);
    gone.push(uid);
    if (!session.qresync) session.untagged(`${seq} EXPUNGE`);
  }
  if (session.qresync && gone.length > 0) session.untagged(`VANISHED ${formatUidSet(gone)}`);
}

/** A message's flags as this session reports them: the stored ones, and \Recent if it has it. */
export function flagsOf(sel: Selected, e: IndexEntry): string[] {
  return sel.recent.has(e.uid) ? [...e.flags, "\\Recent"] : e.flags;
}

/**
 * Takes \Recent for messages new to this session (`uids` ascending) unless another session has
 * (a read-only session reports them without taking them, as EXAMINE does in Dovecot).
 */
export function claimRecent(session: ImapSession, sel: Selected, uids: number[], uidNext: number) {
  const key = RecentClaims.key(session.account!.address, sel.id, sel.uidValidity);
  for (const u of session.recentClaims.claim(key, uids, uidNext, !sel.readOnly)) sel.recent.add(u);
}

/** The `FLAGS (...)` (and `MODSEQ (n)` with CONDSTORE) items of an unsolicited FETCH. */
export function flagsItems(session: ImapSession, e: IndexEntry, withUid: boolean): string {
  let s = withUid ? `UID ${e.uid} ` : "";
  s += `FLAGS ${flagList(flagsOf(session.selected!, e))}`;
  if (session.condstore) s += ` MODSEQ (${e.modseq})`;
  return s;
}

/**
 * Brings the view up to date and announces the differences. `allowExpunge` is false while
 * answering FETCH, STORE and SEARCH (non-UID forms): expunges then wait for a later command.
 */
export async function refresh(session: ImapSession, allowExpunge: boolean): Promise<void> {
  const sel = session.selected;
  if (!sel || !session.account) return;
  let grew = false;
  if (sel.dirty) {
    sel.dirty = false;
    const ch = await session.account.changes(sel.id, sel.highestModseq);
    noteKeywords(session, ch.changed.flatMap((e) => e.flags));
    for (const uid of ch.expunged) if (sel.entries.has(uid)) sel.pendingExpunge.add(uid);
    const last = sel.uids.at(-1) ?? 0;
    const added: IndexEntry[] = [];
    for (const e of ch.changed) {
      const known = sel.entries.get(e.uid);
      if (known) {
        const changed = known.flags.join(" ") !== e.flags.join(" ");
        sel.entries.set(e.uid, e);
        if (changed || (session.condstore && known.modseq !== e.modseq)) {
          session.untagged(`${seqOf(sel, e.uid)} FETCH (${flagsItems(session, e, true)})`);
        }
      } else if (e.uid > last && !ch.expunged.includes(e.uid)) added.push(e);
    }
    added.sort((a, b) => a.uid - b.uid);
    for (const e of added) {
      sel.uids.push(e.uid);
      sel.entries.set(e.uid, e);
    }
    claimRecent(session, sel, added.map((e) => e.uid), sel.uidNext);
    sel.uidNext = Math.max(sel.uidNext, ch.mailbox.uidNext);
    sel.highestModseq = Math.max(sel.highestModseq, ch.mailbox.highestModseq);
    grew = added.length > 0;
  }
  if (allowExpunge && sel.pendingExpunge.size > 0) {
    announceExpunge(session, sel, [...sel.pendingExpunge]);
  }
  // EXISTS after the expunges, so the count it reports is the one the client ends with.
  if (grew) {
    session.untagged(`${sel.uids.length} EXISTS`);
    // RFC 3501 section 7.3.2: RECENT goes with EXISTS.
    session.untagged(`${sel.recent.size} RECENT`);
  }
}

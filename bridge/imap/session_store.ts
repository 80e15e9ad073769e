/**
 * Commands that change the selected mailbox: STORE (RFC 3501 section 6.4.6, with .SILENT and
 * CONDSTORE's UNCHANGEDSINCE and [MODIFIED], RFC 7162 section 3.1.3), COPY (6.4.7) and MOVE
 * (RFC 6851) with COPYUID (RFC 4315), EXPUNGE and UID EXPUNGE (6.4.3, RFC 4315 section 2.1),
 * and CLOSE / UNSELECT (6.4.2, RFC 3691). Each is one backend call for the whole set.
 */
import { formatUidSet } from "../../schemas/mail_access.ts";
import type { Command } from "./command.ts";
import type { ImapSession } from "./session.ts";
import { findMailbox, noteKeywords } from "./session_mailbox.ts";
import { announceExpunge, flagsItems, refresh, resolveSet, seqOf } from "./session_view.ts";

const SYSTEM = new Set(["\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"]);

/** Why a flag list cannot be stored (\Recent and unknown system flags), or undefined. */
export function validFlags(flags: string[]): string | undefined {
  for (const f of flags) {
    if (f.startsWith("\\") && !SYSTEM.has(f.toLowerCase())) return `cannot store the flag ${f}`;
  }
  return undefined;
}

export async function storeCommand(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "STORE" }>,
): Promise<void> {
  const sel = session.selected!;
  const bad = validFlags(cmd.flags);
  if (bad) return session.bad(tag, bad);
  const targets = resolveSet(session, sel, cmd.set, cmd.uid);
  if (!targets) return session.bad(tag, "invalid message sequence number");
  if (sel.readOnly) return session.no(tag, "the mailbox is read-only", "READ-ONLY");
  if (cmd.unchangedSince !== undefined) session.condstore = true;
  if (targets.length > 0) {
    const op = cmd.mode === "set" ? "replace" : cmd.mode;
    const r = await session.account!.store(sel.id, {
      uids: targets.map((t) => t.uid),
      op,
      flags: cmd.flags,
      unchangedSince: cmd.unchangedSince,
    });
    noteKeywords(session, r.updated.flatMap((e) => e.flags));
    for (const e of r.updated) {
      if (!sel.entries.has(e.uid)) continue;
      sel.entries.set(e.uid, e);
      // .SILENT suppresses the FETCH, except MODSEQ under CONDSTORE (RFC 7162 section 3.1.3).
      if (!cmd.silent) {
        session.untagged(`${seqOf(sel, e.uid)} FETCH (${flagsItems(session, e, cmd.uid)})`);
      } else if (cmd.unchangedSince !== undefined) {
        const uid = cmd.uid ? `UID ${e.uid} ` : "";
        session.untagged(`${seqOf(sel, e.uid)} FETCH (${uid}MODSEQ (${e.modseq}))`);
      }
    }
    await refresh(session, cmd.uid);
    if (r.modified.length > 0) {
      const ids = cmd.uid ? r.modified : r.modified.map((u) => seqOf(sel, u));
      return session.ok(tag, "conditional STORE failed", `MODIFIED ${formatUidSet(ids)}`);
    }
  } else await refresh(session, cmd.uid);
  session.ok(tag, "STORE completed");
}

export async function copyCommand(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "COPY" | "MOVE" }>,
): Promise<void> {
  const sel = session.selected!;
  const targets = resolveSet(session, sel, cmd.set, cmd.uid);
  if (!targets) return session.bad(tag, "invalid message sequence number");
  const move = cmd.name === "MOVE";
  if (move && sel.readOnly) return session.no(tag, "the mailbox is read-only", "READ-ONLY");
  const target = await findMailbox(session, cmd.mailbox, "TRYCREATE");
  if (targets.length === 0) {
    await refresh(session, true);
    return session.ok(tag, `${cmd.name} completed, nothing to do`);
  }
  const uids = targets.map((t) => t.uid);
  const account = session.account!;
  const r = move && target.id === sel.id
    ? { uidValidity: sel.uidValidity, mapping: [] as [number, number][] }
    : move
    ? await account.move(sel.id, uids, target.id)
    : await account.copy(sel.id, uids, target.id);
  if (target.id === sel.id) sel.dirty = true;
  const code = r.mapping.length > 0
    ? `COPYUID ${r.uidValidity} ${formatUidSet(r.mapping.map(([s]) => s))} ` +
      formatUidSet(r.mapping.map(([, d]) => d))
    : undefined;
  if (move) {
    // RFC 6851 section 4.3: COPYUID in an untagged OK, then the expunges, then the tagged OK.
    if (code) session.untagged(`OK [${code}] moved`);
    announceExpunge(session, sel, r.mapping.map(([s]) => s));
    await refresh(session, true);
    return session.ok(tag, "MOVE completed");
  }
  await refresh(session, true);
  session.ok(tag, "COPY completed", code);
}

export async function expungeCommand(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "EXPUNGE" }>,
): Promise<void> {
  const sel = session.selected!;
  if (sel.readOnly) return session.no(tag, "the mailbox is read-only", "READ-ONLY");
  let uids: number[] | undefined;
  if (cmd.set) {
    uids = resolveSet(session, sel, cmd.set, true)!.map((t) => t.uid);
    if (uids.length === 0) {
      await refresh(session, true);
      return session.ok(tag, "EXPUNGE completed");
    }
  }
  const r = await session.account!.expunge(sel.id, uids);
  announceExpunge(session, sel, r.expunged);
  await refresh(session, true);
  session.ok(
    tag,
    "EXPUNGE completed",
    session.condstore ? `HIGHESTMODSEQ ${r.highestModseq}` : undefined,
  );
}

/** CLOSE expunges silently (when read-write); UNSELECT does not. Both deselect. */
export async function closeCommand(
  session: ImapSession,
  tag: string,
  expunge: boolean,
): Promise<void> {
  const sel = session.selected!;
  session.selected = undefined;
  session.savedSearch = [];
  session.state = "auth";
  if (expunge && !sel.readOnly) await session.account!.expunge(sel.id);
  session.ok(tag, `${expunge ? "CLOSE" : "UNSELECT"} completed`);
}

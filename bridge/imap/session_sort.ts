/**
 * SORT and UID SORT (RFC 5256 section 3), THREAD and UID THREAD (section 4): the search runs as SEARCH does (one backend call),
 * then the matches are ordered by the sort keys (sort_keys.ts). ARRIVAL and SIZE come from the
 * session's index; keys of the envelope (DATE, FROM, TO, CC, SUBJECT) from stored structures,
 * read through the listener's structure cache and fetched for whole batches of UIDs, never
 * one round trip per message. The answer is `* SORT` with sequence numbers or UIDs. THREAD
 * (section 4) groups the same matches with ORDEREDSUBJECT (from the envelopes) or REFERENCES
 * (thread_references.ts, from the header blocks: the envelope keeps no References field).
 * SORT RETURN (…) is ESORT (RFC 5267 section 3.2): an ESEARCH answer whose MIN, MAX and ALL
 * follow the sort order, and SAVE keeps the result as `$`.
 */
import type { MimeStructure } from "../../schemas/mime_structure.ts";
import { headerValue, parseHeaderFields } from "../../schemas/mime_header.ts";
import type { Command } from "./command.ts";
import type { ImapSession } from "./session.ts";
import { loadStructures } from "./session_fetch.ts";
import { esearch, runSaving, saveResult } from "./session_search.ts";
import { refresh, seqOf } from "./session_view.ts";
import {
  needsEnvelope,
  orderedSubject,
  sentDateOf,
  type Sortable,
  sortMessages,
} from "./sort_keys.ts";
import {
  messageIds,
  referencesOf,
  referencesThreads,
  type ThreadMessage,
} from "./thread_references.ts";

/** UIDs per structure call, as FETCH batches index-sized data. */
const BATCH = 2000;

export async function sortCommand(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "SORT" | "THREAD" }>,
): Promise<void> {
  const sel = session.selected!;
  const opts = cmd.name === "SORT" ? cmd.returnOpts : undefined;
  const found = await runSaving(session, tag, cmd.criteria, cmd.charset, opts);
  if (!found) return;
  const id = (m: { uid: number; seq: number }) => cmd.uid ? m.uid : m.seq;
  if (cmd.name === "THREAD" && cmd.algorithm === "REFERENCES") {
    const threads = referencesThreads(await threadFields(session, found.known), id);
    session.untagged(`THREAD${threads ? " " + threads : ""}`);
    await refresh(session, cmd.uid);
    session.ok(tag, "THREAD completed");
    return;
  }
  const structures = new Map<number, MimeStructure>();
  if (cmd.name === "THREAD" || cmd.sort.some(needsEnvelope)) {
    for (let i = 0; i < found.known.length; i += BATCH) {
      const got = await loadStructures(session, found.known.slice(i, i + BATCH));
      for (const [uid, s] of got) structures.set(uid, s);
    }
  }
  const messages: (Sortable & { uid: number })[] = [];
  for (const uid of found.known) {
    const e = sel.entries.get(uid)!;
    messages.push({
      uid,
      seq: seqOf(sel, uid),
      internalDate: e.internalDate,
      size: e.size,
      envelope: structures.get(uid)?.envelope,
    });
  }
  if (cmd.name === "THREAD") {
    const threads = orderedSubject(messages, id);
    session.untagged(`THREAD${threads ? " " + threads : ""}`);
  } else {
    const sorted = sortMessages(messages, cmd.sort);
    const ids = sorted.map(id);
    // A MODSEQ search key adds the highest modseq of the matches (RFC 7162 section 3.1.5).
    const modseq = found.withModseq && ids.length > 0 ? found.highestModseq : undefined;
    if (!opts) {
      session.untagged(
        `SORT${ids.map((n) => " " + n).join("")}${modseq ? ` (MODSEQ ${modseq})` : ""}`,
      );
    } else {
      // ESORT (RFC 5267 section 3.2): the ESEARCH answer, in sort order.
      saveResult(session, opts, sorted.map((m) => m.uid));
      if (opts.length === 0 || opts.some((o) => o !== "SAVE")) {
        session.untagged(esearch(tag, cmd.uid, opts, ids, modseq));
      }
    }
  }
  await refresh(session, cmd.uid);
  session.ok(tag, `${cmd.name} completed`);
}

/** What THREAD=REFERENCES reads of each message, from header blocks fetched batch by batch. */
async function threadFields(
  session: ImapSession,
  uids: number[],
): Promise<(ThreadMessage & { uid: number })[]> {
  const sel = session.selected!;
  const out: (ThreadMessage & { uid: number })[] = [];
  for (let i = 0; i < uids.length; i += BATCH) {
    const batch = uids.slice(i, i + BATCH);
    const blocks = await session.account!.headers(sel.id, batch);
    for (const uid of batch) {
      const e = sel.entries.get(uid)!;
      const block = blocks.get(uid);
      const fields = block ? parseHeaderFields(block, 0, block.length) : [];
      const field = (name: string) => headerValue(fields, name) ?? null;
      out.push({
        uid,
        seq: seqOf(sel, uid),
        date: sentDateOf(field("Date"), e.internalDate),
        subject: field("Subject"),
        messageId: messageIds(field("Message-ID"))[0] ?? null,
        references: referencesOf(field("References"), field("In-Reply-To")),
      });
    }
  }
  return out;
}

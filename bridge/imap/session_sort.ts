/**
 * SORT and UID SORT (RFC 5256 section 3), THREAD and UID THREAD (section 4): the search runs as SEARCH does (one backend call),
 * then the matches are ordered by the sort keys (sort_keys.ts). ARRIVAL and SIZE come from the
 * session's index; keys of the envelope (DATE, FROM, TO, CC, SUBJECT) from stored structures,
 * read through the listener's structure cache and fetched for whole batches of UIDs, never
 * one round trip per message. The answer is `* SORT` with sequence numbers or UIDs. THREAD
 * (section 4) groups the same matches with ORDEREDSUBJECT; REFERENCES is not offered (it
 * needs the References fields, which the stored envelope does not keep).
 */
import type { MimeStructure } from "../../schemas/mime_structure.ts";
import type { Command } from "./command.ts";
import type { ImapSession } from "./session.ts";
import { loadStructures } from "./session_fetch.ts";
import { runSearch } from "./session_search.ts";
import { refresh, seqOf } from "./session_view.ts";
import { needsEnvelope, orderedSubject, type Sortable, sortMessages } from "./sort_keys.ts";

/** UIDs per structure call, as FETCH batches index-sized data. */
const BATCH = 2000;

export async function sortCommand(
  session: ImapSession,
  tag: string,
  cmd: Extract<Command, { name: "SORT" | "THREAD" }>,
): Promise<void> {
  const sel = session.selected!;
  const found = await runSearch(session, tag, cmd.criteria, cmd.charset);
  if (!found) return;
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
  const id = (m: { uid: number; seq: number }) => cmd.uid ? m.uid : m.seq;
  if (cmd.name === "THREAD") {
    const threads = orderedSubject(messages, id);
    session.untagged(`THREAD${threads ? " " + threads : ""}`);
  } else {
    session.untagged(`SORT${sortMessages(messages, cmd.sort).map((m) => " " + id(m)).join("")}`);
  }
  await refresh(session, cmd.uid);
  session.ok(tag, `${cmd.name} completed`);
}

/**
 * FETCH and UID FETCH (RFC 3501 section 6.4.5, response data of section 7.4.2): FLAGS,
 * INTERNALDATE, RFC822.SIZE, UID and MODSEQ come from the session's index (no round trip);
 * ENVELOPE, BODY and BODYSTRUCTURE from stored structures and BODY[section]<partial> / RFC822*
 * from raw bytes, each fetched for a whole batch of UIDs in one call. A non-PEEK body fetch
 * sets \Seen in one STORE and reports the new FLAGS. CHANGEDSINCE (RFC 7162 section 3.1.4)
 * filters by modseq and implies MODSEQ; UID FETCH always includes UID (section 6.4.8).
 */
import type { MimeStructure } from "../../schemas/mime_structure.ts";
import { ImapError, type IndexEntry } from "./backend.ts";
import { bodyStructure, envelope } from "./bodystructure.ts";
import type { Command, FetchItem } from "./command.ts";
import { dateTime, flagList, ResponseBuilder } from "./encode.ts";
import type { ImapSession } from "./session.ts";
import { applyPartial, extractSection, sectionName, topLevelSection } from "./section.ts";
import { flagsOf, refresh, resolveSet, type Target } from "./session_view.ts";
import { announceVanished } from "./session_mailbox.ts";
import { binarySection } from "./binary.ts";

type Fetch = Extract<Command, { name: "FETCH" }>;

/** Messages and octets per backend call: index data is small, bodies are not. */
const MAX_BATCH = 2000;
const MAX_BODY_BATCH = 250;
/**
 * The first batch of bodies is small: its bytes go out while the next one loads, so the client
 * starts reading after a few dozen messages rather than a whole batch (as Dovecot streams).
 */
const FIRST_BODY_BATCH = 32;
const MAX_BATCH_OCTETS = 8 * 1024 * 1024;

const needsRaw = (i: FetchItem) =>
  i.kind === "BODY[]" || i.kind === "RFC822" || i.kind === "RFC822.HEADER" ||
  i.kind === "RFC822.TEXT" || i.kind === "BINARY[]" || i.kind === "BINARY.SIZE";

/** Served from the header block alone (what clients ask for when listing a mailbox). */
const headerOnly = (i: FetchItem) =>
  i.kind === "RFC822.HEADER" ||
  (i.kind === "BODY[]" && i.section.part.length === 0 &&
    (i.section.text === "HEADER" || i.section.text === "HEADER.FIELDS" ||
      i.section.text === "HEADER.FIELDS.NOT"));

/** Sections of the whole message are cut from its bytes; only parts need the tree. */
const needsStructure = (i: FetchItem) =>
  i.kind === "ENVELOPE" || i.kind === "BODY" || i.kind === "BODYSTRUCTURE" ||
  (i.kind === "BODY[]" && i.section.part.length > 0) ||
  ((i.kind === "BINARY[]" || i.kind === "BINARY.SIZE") && i.part.length > 0);

const setsSeen = (i: FetchItem) =>
  ((i.kind === "BODY[]" || i.kind === "BINARY[]") && !i.peek) || i.kind === "RFC822" ||
  i.kind === "RFC822.TEXT";

/**
 * Structures of the selected mailbox's messages by UID: the listener's cache first, the rest in
 * one backend call (a message is immutable under its UID, so a cached structure never goes
 * stale). Expunged messages are left out.
 */
export async function loadStructures(
  session: ImapSession,
  uids: number[],
): Promise<Map<number, MimeStructure>> {
  const sel = session.selected!;
  const account = session.account!;
  const cache = session.config.structureCache?.mailbox(account.address, sel.id, sel.uidValidity);
  const structures = new Map<number, MimeStructure>();
  const missing: number[] = [];
  for (const uid of uids) {
    const hit = cache?.get(uid);
    if (hit) structures.set(uid, hit);
    else missing.push(uid);
  }
  if (missing.length > 0) {
    for (const [uid, s] of await account.structure(sel.id, missing)) {
      structures.set(uid, s);
      cache?.set(uid, s);
    }
  }
  return structures;
}

export async function fetchCommand(session: ImapSession, tag: string, cmd: Fetch): Promise<void> {
  const sel = session.selected!;
  let targets = resolveSet(session, sel, cmd.set, cmd.uid);
  if (!targets) return session.bad(tag, "invalid message sequence number");
  const items = [...cmd.items];
  if (cmd.uid && !items.some((i) => i.kind === "UID")) items.unshift({ kind: "UID" });
  if (cmd.changedSince !== undefined) {
    session.condstore = true;
    if (!items.some((i) => i.kind === "MODSEQ")) items.push({ kind: "MODSEQ" });
    const since = cmd.changedSince;
    targets = targets.filter((t) => (sel.entries.get(t.uid)?.modseq ?? 0) > since);
  }
  if (items.some((i) => i.kind === "MODSEQ")) session.condstore = true;
  if (cmd.vanished) {
    // RFC 7162 section 3.2.6: UIDs of the set expunged since CHANGEDSINCE, before the FETCHes.
    if (!session.qresync) return session.bad(tag, "VANISHED needs ENABLE QRESYNC first");
    await announceVanished(session, sel, cmd.changedSince!, cmd.set);
  }
  const raw = items.some(needsRaw);
  // Header blocks only, when nothing asks for more: no message body crosses the wire.
  const headersOnly = raw && items.filter(needsRaw).every(headerOnly);
  const structure = items.some(needsStructure);
  const markSeen = !sel.readOnly && items.some(setsSeen);
  const account = session.account!;
  const fetchRaw = (uids: number[]) =>
    headersOnly ? account.headers(sel.id, uids) : account.raw(sel.id, uids);
  const load = async (chunk: Target[]) => {
    const uids = chunk.map((t) => t.uid);
    const [raws, structures] = await Promise.all([
      raw ? fetchRaw(uids) : undefined,
      structure ? loadStructures(session, uids) : undefined,
    ]);
    return { raws, structures };
  };
  // Batches bounded in count and octets; the next batch loads while this one is answered.
  const batches: Target[][] = [];
  let current: Target[] = [];
  let octets = 0;
  // Smaller batches for bodies, so the next one loads while this one is written out.
  const bodies = raw && !headersOnly;
  for (const t of targets) {
    const size = bodies ? sel.entries.get(t.uid)?.size ?? 0 : 0;
    const maxBatch = !bodies ? MAX_BATCH : batches.length === 0 ? FIRST_BODY_BATCH : MAX_BODY_BATCH;
    if (current.length > 0 && (current.length >= maxBatch || octets + size > MAX_BATCH_OCTETS)) {
      batches.push(current);
      current = [];
      octets = 0;
    }
    current.push(t);
    octets += size;
  }
  if (current.length > 0) batches.push(current);
  let next = batches.length > 0 ? load(batches[0]) : undefined;
  for (let i = 0; i < batches.length; i++) {
    const chunk = batches[i];
    const { raws, structures } = await next!;
    next = i + 1 < batches.length ? load(batches[i + 1]) : undefined;
    const uids = chunk.map((t) => t.uid);
    let seenNow = new Set<number>();
    if (markSeen) {
      const unseen = uids.filter((u) => !sel.entries.get(u)?.flags.includes("\\Seen"));
      if (unseen.length > 0) {
        const r = await account.store(sel.id, { uids: unseen, op: "add", flags: ["\\Seen"] });
        for (const e of r.updated) if (sel.entries.has(e.uid)) sel.entries.set(e.uid, e);
        seenNow = new Set(unseen);
      }
    }
    const out = new ResponseBuilder();
    for (const t of chunk) {
      const entry = sel.entries.get(t.uid);
      if (!entry) continue;
      const rawBytes = raws?.get(t.uid);
      const struct = structures?.get(t.uid);
      // A message expunged meanwhile has no body or structure left: leave it out.
      if ((raw && !rawBytes) || (structure && !struct)) continue;
      const flags = flagsOf(sel, entry);
      fetchResponse(out, t, entry, flags, items, rawBytes, struct, seenNow.has(t.uid));
    }
    if (out.length > 0) await session.sendNow(out.chunks());
  }
  await refresh(session, cmd.uid);
  session.ok(tag, "FETCH completed");
}

function fetchResponse(
  out: ResponseBuilder,
  t: Target,
  entry: IndexEntry,
  flags: string[],
  items: FetchItem[],
  raw: Uint8Array | undefined,
  structure: MimeStructure | undefined,
  seenNow: boolean,
): void {
  out.text(`* ${t.seq} FETCH (`);
  let first = true;
  const sep = () => {
    if (!first) out.text(" ");
    first = false;
  };
  let flagsSent = false;
  for (const item of items) {
    sep();
    switch (item.kind) {
      case "UID":
        out.text(`UID ${entry.uid}`);
        break;
      case "FLAGS":
        out.text(`FLAGS ${flagList(flags)}`);
        flagsSent = true;
        break;
      case "INTERNALDATE":
        out.text(`INTERNALDATE ${dateTime(entry.internalDate)}`);
        break;
      case "RFC822.SIZE":
        out.text(`RFC822.SIZE ${entry.size}`);
        break;
      case "MODSEQ":
        out.text(`MODSEQ (${entry.modseq})`);
        break;
      case "ENVELOPE":
        out.text(`ENVELOPE ${envelope(structure!.envelope)}`);
        break;
      case "BODY":
        out.text(`BODY ${bodyStructure(structure!.body, false)}`);
        break;
      case "BODYSTRUCTURE":
        out.text(`BODYSTRUCTURE ${bodyStructure(structure!.body, true)}`);
        break;
      case "RFC822":
        out.text("RFC822 ").literal(raw!);
        break;
      case "RFC822.HEADER":
        out.text("RFC822.HEADER ").literal(topLevelSection(raw!, { part: [], text: "HEADER" })!);
        break;
      case "RFC822.TEXT":
        out.text("RFC822.TEXT ").literal(topLevelSection(raw!, { part: [], text: "TEXT" })!);
        break;
      case "BINARY[]":
      case "BINARY.SIZE": {
        const r = binarySection(raw!, structure?.body, item.part);
        // RFC 3516 section 4.3: an encoding the server cannot undo fails the FETCH.
        if (!r.ok && r.reason === "unknown-cte") {
          throw new ImapError("UNKNOWN-CTE", "cannot decode the part's transfer encoding");
        }
        const name = `[${item.part.join(".")}]`;
        if (item.kind === "BINARY.SIZE") {
          out.text(`BINARY.SIZE${name} ${r.ok ? r.bytes.byteLength : 0}`);
          break;
        }
        const origin = item.partial ? `<${item.partial.start}>` : "";
        out.text(`BINARY${name}${origin} `);
        if (!r.ok) out.text("NIL");
        else out.literal(applyPartial(r.bytes, item.partial), true);
        break;
      }
      case "BODY[]": {
        const bytes = item.section.part.length === 0
          ? topLevelSection(raw!, item.section)
          : extractSection(raw!, structure!, item.section);
        const origin = item.partial ? `<${item.partial.start}>` : "";
        out.text(`BODY[${sectionName(item.section)}]${origin} `);
        if (bytes === undefined) out.text(`""`);
        else out.literal(applyPartial(bytes, item.partial));
        break;
      }
    }
  }
  // Section 6.4.5: setting \Seen implicitly reports the changed FLAGS.
  if (seenNow && !flagsSent) {
    sep();
    out.text(`FLAGS ${flagList(flags)}`);
  }
  out.text(")\r\n");
}

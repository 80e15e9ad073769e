/**
 * Sort keys of SORT (RFC 5256 section 3), pure: the base subject of section 2.1, the first
 * address's mailbox for FROM/TO/CC, the sent date (falling back to the internal date, as the
 * RFC says when Date: cannot be read), and the comparison that orders messages: keys in turn,
 * REVERSE flipping one key, ties by sequence number (section 3, "SORT ... messages that are
 * equal by all criteria are ordered by sequence number"). Strings compare under
 * i;ascii-casemap (RFC 4790): ASCII letters upper-cased, then by code unit.
 */
import type { MimeEnvelope } from "../../schemas/mime_structure.ts";

export type SortKeyName =
  | "ARRIVAL"
  | "CC"
  | "DATE"
  | "FROM"
  | "REVERSE"
  | "SIZE"
  | "SUBJECT"
  | "TO";
export const SORT_KEYS = new Set<string>([
  "ARRIVAL",
  "CC",
  "DATE",
  "FROM",
  "SIZE",
  "SUBJECT",
  "TO",
]);

export interface SortCriterion {
  key: Exclude<SortKeyName, "REVERSE">;
  reverse: boolean;
}

/** What a message offers the sort: index data, and the envelope when a key needs it. */
export interface Sortable {
  seq: number;
  internalDate: number;
  size: number;
  envelope?: MimeEnvelope;
}

/** Keys that need the envelope (the rest come from the session's index). */
export const needsEnvelope = (c: SortCriterion) => c.key !== "ARRIVAL" && c.key !== "SIZE";

const casemap = (s: string) => s.replace(/[a-z]+/g, (m) => m.toUpperCase());

const utf8 = new TextDecoder();

/** RFC 2047 encoded-words (B and Q) decoded; unknown charsets and bad words are left as is. */
export function decodeWords(text: string): string {
  return text
    // Whitespace between adjacent encoded-words is dropped (RFC 2047 section 6.2).
    .replace(/(\?=)\s+(?==\?)/g, "$1")
    .replace(/=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g, (word, charset: string, enc, text) => {
      try {
        const bytes = enc.toUpperCase() === "B"
          ? Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
          : Uint8Array.from(
            text.replace(/_/g, " ").replace(
              /=([0-9A-Fa-f]{2})/g,
              (_m: string, h: string) => String.fromCharCode(parseInt(h, 16)),
            ),
            (c: string) => c.charCodeAt(0),
          );
        const label = charset.replace(/\*.*$/, "");
        return (label.toLowerCase() === "utf-8" ? utf8 : new TextDecoder(label)).decode(bytes);
      } catch {
        return word;
      }
    });
}

/**
 * The base subject (RFC 5256 section 2.1): encoded-words decoded, whitespace runs made one
 * space, then trailing "(fwd)" and leading "Re:", "Fw:", "Fwd:" (each with an optional
 * "[blob]") and "[blob]" prefixes removed until nothing changes, and a "[fwd: …]" wrapper
 * unwrapped. Simplified where the RFC's grammar is looser: a blob is any bracketed run without
 * brackets.
 */
export function baseSubject(subject: string | null | undefined): string {
  return subjectOf(subject).base;
}

/**
 * The base subject, and whether extracting it removed a reply or forward marker (a "Re:" or
 * "Fwd:" leader, a "(fwd)" trailer or a "[fwd: …]" wrapper, not a mere "[blob]"): THREAD=
 * REFERENCES merges a reply under its original by this (RFC 5256 section 4, step 6).
 */
export function subjectOf(subject: string | null | undefined): {
  base: string;
  replyOrForward: boolean;
} {
  let s = decodeWords(subject ?? "").replace(/[\t\r\n ]+/g, " ").trim();
  let replyOrForward = false;
  for (;;) {
    const before = s;
    // (2) trailing subj-trailer: "(fwd)" and whitespace.
    const trailer = s.replace(/(\s*\(fwd\))+\s*$/i, "").trim();
    if (trailer !== s) replyOrForward = true;
    s = trailer;
    // (3)–(5) leading subj-refwd and subj-blob, repeatedly.
    for (;;) {
      const inner = s;
      const leader = s.replace(/^(re|fwd?)\s*(\[[^[\]]*\])?\s*:\s*/i, "");
      if (leader !== s) replyOrForward = true;
      s = leader;
      const blob = /^\[[^[\]]*\]\s*/.exec(s);
      // A blob is removed only when something is left after it (section 2.1 step 4).
      if (blob && s.length > blob[0].length) s = s.slice(blob[0].length);
      if (s === inner) break;
    }
    // (6) "[fwd:" … "]" wrapper.
    const m = /^\[fwd:\s*(.*)\]$/i.exec(s);
    if (m) {
      s = m[1].trim();
      replyOrForward = true;
    }
    if (s === before) break;
  }
  return { base: casemap(s), replyOrForward };
}

/** The mailbox (local part) of the first address of a list, as the key of FROM/TO/CC. */
function firstMailbox(list: MimeEnvelope["from"]): string {
  const a = list?.find((x) => x.mailbox !== null && x.host !== null);
  return casemap(a?.mailbox ?? "");
}

/** The sent date (Date: header) in ms, or the internal date when it cannot be read. */
export function sentDate(m: Sortable): number {
  return sentDateOf(m.envelope?.date, m.internalDate);
}

/** A Date: field's value in ms (comments dropped), or `fallback` when it cannot be read. */
export function sentDateOf(date: string | null | undefined, fallback: number): number {
  const t = date ? Date.parse(date.replace(/\([^)]*\)/g, "").trim()) : NaN;
  return Number.isFinite(t) ? t : fallback;
}

function keyOf(m: Sortable, key: SortCriterion["key"]): string | number {
  switch (key) {
    case "ARRIVAL":
      return m.internalDate;
    case "SIZE":
      return m.size;
    case "DATE":
      return sentDate(m);
    case "SUBJECT":
      return baseSubject(m.envelope?.subject);
    case "FROM":
      return firstMailbox(m.envelope?.from ?? null);
    case "TO":
      return firstMailbox(m.envelope?.to ?? null);
    case "CC":
      return firstMailbox(m.envelope?.cc ?? null);
  }
}

/** The messages in SORT order (a new array); every key is computed once per message. */
export function sortMessages<T extends Sortable>(messages: T[], criteria: SortCriterion[]): T[] {
  const keyed = messages.map((m) => ({ m, keys: criteria.map((c) => keyOf(m, c.key)) }));
  keyed.sort((a, b) => {
    for (let i = 0; i < criteria.length; i++) {
      const x = a.keys[i];
      const y = b.keys[i];
      if (x === y) continue;
      const order = x < y ? -1 : 1;
      return criteria[i].reverse ? -order : order;
    }
    return a.m.seq - b.m.seq;
  });
  return keyed.map((k) => k.m);
}

/**
 * THREAD=ORDEREDSUBJECT (RFC 5256 section 4): messages sorted by base subject and sent date,
 * a thread per base subject whose first message is the parent of all the others, threads
 * ordered by the sent date of their first message (ties by sequence number). Returns the
 * `thread-list` text with `id` naming each message (sequence number or UID).
 */
export function orderedSubject<T extends Sortable>(messages: T[], id: (m: T) => number): string {
  const sorted = sortMessages(messages, [
    { key: "SUBJECT", reverse: false },
    { key: "DATE", reverse: false },
  ]);
  const threads: T[][] = [];
  let subject: string | undefined;
  for (const m of sorted) {
    const s = baseSubject(m.envelope?.subject);
    if (s !== subject || threads.length === 0) threads.push([]);
    subject = s;
    threads[threads.length - 1].push(m);
  }
  const first = threads.map((t) => ({ t, date: sentDate(t[0]), seq: t[0].seq }));
  first.sort((a, b) => a.date - b.date || a.seq - b.seq);
  return first.map(({ t }) => {
    const [parent, ...children] = t;
    // One child continues the parent's list; several are siblings, each in parentheses.
    if (children.length <= 1) return `(${t.map(id).join(" ")})`;
    return `(${id(parent)} ${children.map((c) => `(${id(c)})`).join("")})`;
  }).join("");
}

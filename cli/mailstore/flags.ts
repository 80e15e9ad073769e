/**
 * Message flags in the spellings the on-disk formats use: IMAP flags (RFC 3501 section 2.3.2)
 * to and from mbox's `Status:`/`X-Status:`/`X-Keywords:` headers (the mutt/Dovecot convention)
 * and Maildir's info suffix `:2,FLAGS` (letters D, F, P, R, S, T in ASCII order; lowercase
 * letters a–z name keywords through Dovecot's `dovecot-keywords` file).
 */

/** One message read from (or written to) a file format. */
export interface MailItem {
  raw: Uint8Array;
  /** Internal date, ms since the epoch (whole seconds in every format). */
  internalDate: number;
  /** IMAP spellings: `\Seen`, `\Answered`, …, keywords as is. */
  flags: string[];
  /** Where it came from, for error messages (`file:offset` or a path). */
  origin: string;
}

const MAILDIR_LETTERS: [string, string][] = [
  ["D", "\\Draft"],
  ["F", "\\Flagged"],
  ["R", "\\Answered"],
  ["S", "\\Seen"],
  ["T", "\\Deleted"],
];

const lower = (f: string) => f.toLowerCase();
export const isSystem = (f: string) => f.startsWith("\\");

/** The info suffix letters (`FRS`) and keyword letters (`ab`) for a message's flags. */
export function maildirInfo(flags: string[], keywordIndex: (k: string) => number): string {
  const have = new Set(flags.map(lower));
  const letters = MAILDIR_LETTERS.filter(([, f]) => have.has(lower(f))).map(([l]) => l);
  const kw = flags.filter((f) => !isSystem(f)).map(keywordIndex)
    .filter((i) => i >= 0 && i < 26).map((i) => String.fromCharCode(97 + i));
  return [...letters, ...kw].sort().join("");
}

/** Flags from an info suffix; `keywordAt` maps a lowercase letter's index to its keyword. */
export function flagsFromMaildirInfo(
  info: string,
  keywordAt: (i: number) => string | undefined,
): string[] {
  const out: string[] = [];
  for (const ch of info) {
    const system = MAILDIR_LETTERS.find(([l]) => l === ch);
    if (system) out.push(system[1]);
    else if (ch >= "a" && ch <= "z") {
      const k = keywordAt(ch.charCodeAt(0) - 97);
      if (k) out.push(k);
    }
    // "P" (passed) has no IMAP flag; unknown letters are ignored as Maildir readers do.
  }
  return out;
}

/** The three mbox status header values for a message's flags. */
export function mboxStatus(flags: string[]): { status: string; xStatus: string; keywords: string } {
  const have = new Set(flags.map(lower));
  const status = (have.has("\\seen") ? "R" : "") + "O";
  const xStatus = [["A", "\\answered"], ["F", "\\flagged"], ["D", "\\deleted"], ["T", "\\draft"]]
    .filter(([, f]) => have.has(f)).map(([l]) => l).join("");
  const keywords = flags.filter((f) => !isSystem(f)).join(" ");
  return { status, xStatus, keywords };
}

/** Flags from mbox status header values (any may be missing). */
export function flagsFromMboxStatus(
  status: string | undefined,
  xStatus: string | undefined,
  keywords: string | undefined,
): string[] {
  const out: string[] = [];
  if (status?.includes("R")) out.push("\\Seen");
  const x = xStatus ?? "";
  if (x.includes("A")) out.push("\\Answered");
  if (x.includes("F")) out.push("\\Flagged");
  if (x.includes("D")) out.push("\\Deleted");
  if (x.includes("T")) out.push("\\Draft");
  for (const k of (keywords ?? "").split(/[\s,]+/)) if (k && !isSystem(k)) out.push(k);
  return out;
}

/** Flags compared as a set (case-insensitive, order ignored), for tests and dedup. */
export function sameFlags(a: string[], b: string[]): boolean {
  const s = (l: string[]) => [...new Set(l.map(lower))].sort().join(" ");
  return s(a) === s(b);
}

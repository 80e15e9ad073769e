/**
 * A spam verdict from the tests that fired: the score (their sum), the action its thresholds
 * give (deliver, Junk, refuse), and how the receiving hop writes it into the message: the
 * `X-Spam-Status` / `X-Spam-Score` fields SpamAssassin made common (`Yes, score=7.3
 * required=5.0 tests=BAYES_99,MISSING_DATE`), which users' Sieve scripts and clients read.
 * Forged copies of those fields from the sender are removed, so a script never trusts the
 * sender's own claim.
 */
import { removeHeaderFields } from "../../schemas/mime_header.ts";
import type { SpamTest } from "./rules.ts";

export interface Thresholds {
  /** At or above: delivered into Junk. */
  junk: number;
  /** At or above: refused at DATA. */
  reject: number;
}

export type SpamAction = "deliver" | "junk" | "reject";

/** What is stored with the message (its JSON form, `spam`) and shown to the user. */
export interface SpamVerdict {
  score: number;
  action: SpamAction;
  /** True when the score reached the Junk threshold. */
  spam: boolean;
  required: number;
  tests: SpamTest[];
  /** The classifier's probability, when it had enough training. */
  bayes?: number;
}

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * The verdict for `tests` under `thresholds`. `protectedSender`: an authenticated, aligned
 * sender the user has written to, never refused (at most Junk).
 */
export function verdictOf(
  tests: SpamTest[],
  thresholds: Thresholds,
  protectedSender = false,
  bayes?: number,
): SpamVerdict {
  const score = round(tests.reduce((n, t) => n + t.score, 0));
  let action: SpamAction = score >= thresholds.reject
    ? "reject"
    : score >= thresholds.junk
    ? "junk"
    : "deliver";
  if (action === "reject" && protectedSender) action = "junk";
  return {
    score,
    action,
    spam: score >= thresholds.junk,
    required: thresholds.junk,
    tests: tests.map((t) => ({ ...t, score: round(t.score) })),
    ...(bayes !== undefined ? { bayes: Math.round(bayes * 10000) / 10000 } : {}),
  };
}

/** The rule names of a verdict, most telling first, as `tests=` lists them. */
const testNames = (v: SpamVerdict) =>
  [...v.tests].sort((a, b) => Math.abs(b.score) - Math.abs(a.score)).map((t) => t.name);

/** The X-Spam-* header fields (CRLF-terminated, folded at commas under 78 columns). */
export function spamHeaderFields(v: SpamVerdict): { name: string; value: string }[] {
  const names = testNames(v);
  const status = `${v.spam ? "Yes" : "No"}, score=${v.score.toFixed(1)} required=${
    v.required.toFixed(1)
  } tests=${names.length ? names.join(",") : "none"}`;
  return [
    { name: "X-Spam-Status", value: status },
    { name: "X-Spam-Score", value: v.score.toFixed(1) },
  ];
}

/** The fields as octets to put on top of the message (RFC 5322 2.2.3 folding). */
export function spamHeaderText(v: SpamVerdict): string {
  return spamHeaderFields(v).map(({ name, value }) => {
    let line = `${name}: `;
    let out = "";
    for (const part of value.split(/(?<=,)/)) {
      if (line.length + part.length > 76 && line.trim().length > name.length + 1) {
        out += `${line}\r\n`;
        line = "\t";
      }
      line += part;
    }
    return `${out}${line}\r\n`;
  }).join("");
}

const SPAM_FIELD = /^x-spam-(status|score|flag|level)[ \t]*:/i;
const latin1 = new TextDecoder("latin1");

/**
 * The message without X-Spam-Status/-Score/-Flag/-Level fields in its header section (a sender
 * forging our verdict); the same array when it has none.
 */
export function stripSpamFields(message: Uint8Array): Uint8Array {
  // Most fields are something else: tell by the first octet before decoding anything.
  return removeHeaderFields(
    message,
    (field) => (field[0] | 0x20) === 0x78 && SPAM_FIELD.test(latin1.decode(field.subarray(0, 24))),
  );
}

/** True for the header names `stripSpamFields` removes. */
export const isSpamFieldName = (name: string) => SPAM_FIELD.test(`${name}:`);

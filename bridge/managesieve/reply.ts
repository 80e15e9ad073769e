/**
 * ManageSieve responses (RFC 5804 section 4): `OK`, `NO` and `BYE` with an optional response
 * code in parentheses (section 1.3: AUTH-TOO-WEAK, ENCRYPT-NEEDED, QUOTA[/MAXSCRIPTS|/MAXSIZE],
 * REFERRAL, SASL, TRANSITION-NEEDED, TRYLATER, ACTIVE, NONEXISTENT, ALREADYEXISTS, TAG,
 * WARNINGS) and human-readable text as a string; strings go out quoted when they can be and
 * as literals (`{n}` CRLF octets) otherwise. The capability listing of section 1.7. Pure.
 */
import { MAX_QUOTED_OCTETS } from "./parse.ts";

export type RespCode =
  | "AUTH-TOO-WEAK"
  | "ENCRYPT-NEEDED"
  | "QUOTA"
  | "QUOTA/MAXSCRIPTS"
  | "QUOTA/MAXSIZE"
  | "TRANSITION-NEEDED"
  | "TRYLATER"
  | "ACTIVE"
  | "NONEXISTENT"
  | "ALREADYEXISTS"
  | "WARNINGS"
  | { tag: string }
  | { sasl: string };

const encoder = new TextEncoder();

/**
 * A string as the protocol carries it: quoted when short and free of CR, LF and NUL (the two
 * specials escaped), else a literal-s2c `{n}` CRLF followed by the octets.
 */
export function str(value: string): string {
  const octets = encoder.encode(value).byteLength;
  if (octets <= MAX_QUOTED_OCTETS && !/[\r\n\0]/.test(value)) {
    return `"${value.replace(/[\\"]/g, (c) => "\\" + c)}"`;
  }
  return `{${octets}}\r\n${value}`;
}

function code(c: RespCode): string {
  if (typeof c === "string") return c;
  if ("tag" in c) return `TAG ${str(c.tag)}`;
  return `SASL ${str(c.sasl)}`;
}

function status(word: "OK" | "NO" | "BYE", text?: string, c?: RespCode): string {
  // Text with line breaks (one line per script error) goes out as a literal, whose length
  // frames it: a backend's message can never forge a response line. Other controls go.
  // deno-lint-ignore no-control-regex
  const clean = text?.replace(/[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]+/g, " ")
    .replace(/\r?\n|\r/g, "\r\n");
  return `${word}${c ? ` (${code(c)})` : ""}${clean ? ` ${str(clean)}` : ""}\r\n`;
}

export const ok = (text?: string, c?: RespCode) => status("OK", text, c);
export const no = (text: string, c?: RespCode) => status("NO", text, c);
export const bye = (text: string, c?: RespCode) => status("BYE", text, c);

export interface CapabilityInput {
  implementation: string;
  /**
   * SASL mechanisms offered now: empty before TLS when plaintext is refused (section 1.7: only
   * while STARTTLS is offered), absent once authenticated (as Pigeonhole leaves it out).
   */
  sasl?: string[];
  /** Sieve extensions (the `require` names) the server supports. */
  sieve: string[];
  /** Offer STARTTLS (not yet encrypted, a certificate is there, not authenticated). */
  startTls: boolean;
  maxRedirects?: number;
  /** Notification methods (RFC 5435 URI schemes), when the enotify extension is there. */
  notify?: string[];
  /** Section 1.7: OWNER is listed once authenticated. */
  owner?: string;
  unauthenticate?: boolean;
}

/** Section 1.7: one `"NAME" SP value` line per capability, then OK (with `done` as its text). */
export function capabilities(c: CapabilityInput, done?: string): string {
  const lines = [
    `"IMPLEMENTATION" ${str(c.implementation)}`,
    ...(c.sasl ? [`"SASL" ${str(c.sasl.join(" "))}`] : []),
    `"SIEVE" ${str(c.sieve.join(" "))}`,
  ];
  if (c.startTls) lines.push(`"STARTTLS"`);
  if (c.maxRedirects !== undefined) lines.push(`"MAXREDIRECTS" "${c.maxRedirects}"`);
  if (c.notify?.length) lines.push(`"NOTIFY" ${str(c.notify.join(" "))}`);
  if (c.owner !== undefined) lines.push(`"OWNER" ${str(c.owner)}`);
  // Section 2.14: the UNAUTHENTICATE extension is announced among the capabilities.
  if (c.unauthenticate) lines.push(`"UNAUTHENTICATE"`);
  lines.push(`"VERSION" "1.0"`);
  return lines.map((l) => l + "\r\n").join("") + ok(done);
}

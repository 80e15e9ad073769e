/**
 * POP3 command lines (RFC 1939 section 3, RFC 2449 section 4): a case-insensitive keyword of
 * three or four characters and arguments separated by single spaces. Keywords and arguments are
 * limited (RFC 2449: keyword 4, argument 40 octets, line 255 octets); the SASL response lines of
 * RFC 5034 are exempt and read as raw lines by the session. Pure: no I/O. Bad input is a result.
 */

/** Longest command line (RFC 2449 section 4), CRLF included. */
export const MAX_COMMAND_OCTETS = 255;
/** Longest line read at all (AUTH responses may exceed 255 octets, RFC 5034 section 4). */
export const MAX_LINE_OCTETS = 8192;
const MAX_ARG = 40;

export type Pop3Command = { verb: string; args: string[] };

export type ParseResult =
  | { ok: true; command: Pop3Command }
  | { ok: false; error: string };

export function parseCommand(line: string): ParseResult {
  // RFC 5034 section 4: AUTH's initial response is exempt from the 255-octet line limit.
  const auth = /^auth /i.test(line);
  if (!auth && new TextEncoder().encode(line).byteLength + 2 > MAX_COMMAND_OCTETS) {
    return { ok: false, error: "command line too long" };
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(line)) return { ok: false, error: "control characters in command" };
  const parts = line.split(" ");
  const verb = parts[0].toUpperCase();
  if (!/^[A-Z]{3,4}$/.test(verb)) return { ok: false, error: "unknown command" };
  const args = parts.slice(1);
  // PASS takes the rest of the line: RFC 1939 section 7 lets passwords hold spaces.
  if (verb === "PASS") {
    const rest = line.slice(5);
    return rest
      ? { ok: true, command: { verb, args: [rest] } }
      : { ok: false, error: "no password" };
  }
  if (args.some((a) => a === "" || (a.length > MAX_ARG && !auth))) {
    return { ok: false, error: "malformed arguments" };
  }
  return { ok: true, command: { verb, args } };
}

/** A message number: a positive decimal without sign or leading junk, or undefined. */
export function messageNumber(arg: string | undefined): number | undefined {
  if (arg === undefined || !/^[1-9]\d{0,8}$/.test(arg)) return undefined;
  return Number(arg);
}

/** A non-negative line count for TOP, or undefined. */
export function lineCount(arg: string | undefined): number | undefined {
  if (arg === undefined || !/^\d{1,9}$/.test(arg)) return undefined;
  return Number(arg);
}

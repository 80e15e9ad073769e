/**
 * `Idempotency-Key` as a message header on the submission port (RFC 6409): an application that
 * retries a submission after a lost 250 (a dropped connection, a timeout) sends the same key,
 * and within 24 hours gets the first result without a second send. The field is taken out of
 * the message before it is stored or relayed (it is a request to this server, not content).
 *
 * Keys live beside the send API's (idempotency.ts), per account, in their own scope `smtp`. What
 * must match is the envelope (MAIL FROM and the set of RCPT TO): a retry re-made by a mail
 * library carries a new Date and Message-ID, so the body cannot be part of the identity; the
 * same key with another envelope is a conflict.
 */
import { type IdempotencyKey, idempotencyKey } from "./idempotency.ts";

const FIELD = "idempotency-key";

/** True when the line (bytes [start, end)) begins with `Idempotency-Key:` in any case. */
function isKeyField(raw: Uint8Array, start: number, end: number): boolean {
  if (end - start <= FIELD.length) return false;
  for (let i = 0; i < FIELD.length; i++) {
    const c = raw[start + i] | 0x20; // ASCII lower case; '-' (0x2d) is unchanged
    if (c !== FIELD.charCodeAt(i)) return false;
  }
  // RFC 5322 section 3.6.8: field name, then the colon (obsolete syntax allows WSP before it).
  let i = start + FIELD.length;
  while (i < end && (raw[i] === 0x20 || raw[i] === 0x09)) i++;
  return raw[i] === 0x3a;
}

export interface TakenField {
  /** Each Idempotency-Key field's unfolded value, in order. */
  values: string[];
  /** The message without those fields (the same bytes when there were none). */
  raw: Uint8Array;
}

/**
 * Removes every `Idempotency-Key` field (with its folded continuation lines, RFC 5322 section
 * 2.2.3) from the header section; all other bytes are kept exactly.
 */
export function takeIdempotencyField(raw: Uint8Array): TakenField {
  const drop: [number, number][] = [];
  const values: string[] = [];
  let pos = 0;
  let current: [number, number] | undefined;
  while (pos < raw.length) {
    let eol = raw.indexOf(0x0a, pos);
    eol = eol < 0 ? raw.length : eol + 1;
    const blank = raw[pos] === 0x0a || (raw[pos] === 0x0d && raw[pos + 1] === 0x0a);
    if (blank) break; // the end of the header section
    const continuation = raw[pos] === 0x20 || raw[pos] === 0x09;
    if (continuation && current) current[1] = eol;
    else if (!continuation) {
      if (current) drop.push(current);
      current = isKeyField(raw, pos, eol) ? [pos, eol] : undefined;
    }
    pos = eol;
  }
  if (current) drop.push(current);
  if (drop.length === 0) return { values, raw };
  const decoder = new TextDecoder();
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const [start, end] of drop) {
    parts.push(raw.subarray(from, start));
    const field = decoder.decode(raw.subarray(start, end));
    values.push(field.slice(field.indexOf(":") + 1).replace(/\r?\n[ \t]/g, " ").trim());
    from = end;
  }
  parts.push(raw.subarray(from));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return { values, raw: out };
}

/** The key of a submission: the field's value, bound to the envelope. */
export async function submissionKey(
  value: string,
  mailFrom: string,
  recipients: string[],
): Promise<IdempotencyKey> {
  const rcpt = [...new Set(recipients.map((r) => r.toLowerCase()))].sort();
  return await idempotencyKey(value, "smtp", { mailFrom: mailFrom.toLowerCase(), rcpt });
}

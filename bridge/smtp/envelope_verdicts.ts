/**
 * Inbound verdicts that depend on the envelope alone, worked out once and reused.
 *
 * For a message with no DKIM-Signature and no ARC fields, mailauth's whole verdict follows from
 * the client address, the HELO name, the MAIL FROM address and the author domain of the one From
 * field: DKIM is "none" (RFC 6376 section 6.1 has nothing to verify), ARC is "none" (RFC 8617
 * section 5.2: no chain), SPF reads the envelope only (RFC 7208 section 4.1) and DMARC reads the
 * author domain and the SPF result (RFC 7489 section 3.1; RFC 9989 section 5.3.1). The body
 * plays no part. So the verdict of such a message whose From domain is the MAIL FROM domain
 * equals that of `From: <MAIL FROM>` with an empty body, which can be asked at RCPT time, while
 * the client is still sending, and is shared by every message of the same envelope for a few
 * seconds (never longer than the DNS answers it was made of could be cached anyway).
 *
 * Anything else (a signature, an ARC set, several From fields or mailboxes, a From domain other
 * than the MAIL FROM domain, a From this reader is not sure it reads as mailauth does, a bare CR
 * or LF in the header section, a null reverse-path) is checked in full, as before.
 * envelope_verdicts_test.ts runs both ways over many messages and requires the same verdict.
 */
import type { AuthVerdict } from "./inbound_auth.ts";

/** Octets of the header section looked at; a longer one is checked in full. */
const MAX_HEADER_OCTETS = 64 * 1024;
/** Envelopes remembered at once. */
const MAX_ENTRIES = 1_000;

const CR = 13, LF = 10;
const latin1 = new TextDecoder("latin1");

/** The stand-in message whose verdict is asked: one From field, the MAIL FROM address. */
export function envelopeOnlyMessage(mailFrom: string): Uint8Array {
  return new TextEncoder().encode(`From: <${mailFrom}>\r\n\r\n`);
}

/** A From value of one mailbox in a form mailauth's address parser reads the same way. */
const ADDR = String
  .raw`([A-Za-z0-9!#$%&'*+/=?^_\x60{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_\x60{|}~-]+)*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)`;
const SIMPLE_FROM = new RegExp(
  String
    .raw`^(?:${ADDR}|<${ADDR}>|"[ !#-\[\]-~]*" ?<${ADDR}>|[A-Za-z0-9 ]+<${ADDR}>)$`,
);

/**
 * True when `message`'s verdict is the one of `envelopeOnlyMessage(mailFrom)`: no DKIM-Signature,
 * no ARC-* field, exactly one From field holding one plain mailbox whose domain is, octet for
 * octet, the MAIL FROM domain, and a header section of CRLF lines only.
 */
export function verdictDependsOnEnvelopeOnly(message: Uint8Array, mailFrom: string): boolean {
  const at = mailFrom.lastIndexOf("@");
  if (at <= 0) return false; // the null reverse-path: SPF checks the HELO name instead
  const senderDomain = mailFrom.slice(at + 1);
  const limit = Math.min(message.byteLength, MAX_HEADER_OCTETS);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const c = message[i];
    if (c === CR) {
      if (message[i + 1] !== LF) return false;
      if (message[i + 2] === CR && message[i + 3] === LF) {
        end = i;
        break;
      }
      i++;
    } else if (c === LF || c === 0) return false;
  }
  if (end < 0) return false;
  let from: string | undefined;
  let fromFields = 0;
  let last = "";
  for (const line of latin1.decode(message.subarray(0, end)).split("\r\n")) {
    if (line[0] === " " || line[0] === "\t") {
      if (!last) return false; // a fold with no field before it
      if (last === "from") from += " " + line.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) return false;
    const name = line.slice(0, colon).toLowerCase();
    if (!/^[!-9;-~]+$/.test(name)) return false;
    if (name === "dkim-signature" || name.startsWith("arc-")) return false;
    last = name;
    if (name === "from") {
      fromFields++;
      from = line.slice(colon + 1).trim();
    }
  }
  if (fromFields !== 1 || from === undefined) return false;
  const m = from.trim().match(SIMPLE_FROM);
  if (!m) return false;
  const domain = m[2] ?? m[4] ?? m[6] ?? m[8];
  return domain === senderDomain;
}

/**
 * Verdicts by envelope, kept `ttlMs` after they were asked for (0: not kept; then every message
 * is checked in full). A verdict holding a temperror or an error is never reused: DNS failures are
 * not cached either.
 */
export class EnvelopeVerdicts {
  private readonly entries = new Map<string, { verdict: Promise<AuthVerdict>; until: number }>();

  constructor(readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  get enabled(): boolean {
    return this.ttlMs > 0;
  }

  /** The verdict for `key`, from memory or from `check()` (which it then remembers). */
  get(key: string, check: () => Promise<AuthVerdict>): Promise<AuthVerdict> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.verdict;
    const verdict = check();
    if (!this.enabled) return verdict;
    if (this.entries.size >= MAX_ENTRIES) this.sweep(now);
    const entry = { verdict, until: now + this.ttlMs };
    this.entries.set(key, entry);
    verdict.then(
      (v) => {
        if (!reusable(v) && this.entries.get(key) === entry) this.entries.delete(key);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return verdict;
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.entries) if (entry.until <= now) this.entries.delete(key);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
  }
}

function reusable(v: AuthVerdict): boolean {
  return !v.error && v.spf.result !== "temperror" && v.dmarc.result !== "temperror" &&
    v.arc.result !== "temperror" && v.dkim.every((d) => d.result !== "temperror");
}

/** The envelope fields the verdict depends on, as one key. */
export function envelopeKey(clientIp: string, helo: string, mailFrom: string): string {
  return `${clientIp}\n${helo}\n${mailFrom}`;
}

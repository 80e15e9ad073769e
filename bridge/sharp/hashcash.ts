/**
 * Hashcash version 1 stamps as SHARP/1.3 uses them (hashcash.org's format, SHA-1):
 * `1:<bits>:<YYMMDDhhmmss UTC>:<resource>:<ext>:<rand>:<counter>`, where the SHA-1 of the whole
 * string must start with at least `<bits>` zero bits and `resource` is exactly the MAIL_TO
 * address. Checks follow the reference server's order: format, resource, date (at most 2 minutes
 * ahead, at most 24 hours old), replay, proof; Postern then requires `minBits` (18 by default;
 * the reference server also takes 5-17 bit stamps over TCP). Minting is a bounded loop that
 * yields to the event loop between slices.
 *
 * The replay table here is in memory: right for one bridge process; several bridges behind one
 * address would each keep their own (a stamp could be spent once per bridge).
 */
import { createHash, randomBytes } from "node:crypto";

export const STAMP_MAX_AGE_MS = 24 * 60 * 60 * 1000;
export const STAMP_MAX_AHEAD_MS = 2 * 60 * 1000;

export type StampProblem =
  | "missing"
  | "malformed"
  | "resource"
  | "future"
  | "stale"
  | "replayed"
  | "invalid"
  | "weak";

export type StampVerdict =
  | { ok: true; bits: number; date: Date; expiresAt: number }
  | { ok: false; problem: StampProblem };

/**
 * Spent stamps. `claim` is check-and-set: false when the stamp was already spent. There is no
 * way to give a stamp back: once it passed, it paid (session.ts).
 */
export interface ReplayTable {
  claim(stamp: string, expiresAt: number, now: number): boolean | Promise<boolean>;
}

/** `YYMMDD[hhmm[ss]]` in UTC → Date; undefined when malformed. */
export function parseStampDate(text: string): Date | undefined {
  if (!/^\d{6}(\d{4}(\d{2})?)?$/.test(text)) return undefined;
  const n = (i: number) => (text.length > i ? Number(text.slice(i, i + 2)) : 0);
  const [year, month, day, hour, minute, second] = [0, 2, 4, 6, 8, 10].map(n);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59) return undefined;
  if (second > 59) return undefined;
  return new Date(Date.UTC(2000 + year, month - 1, day, hour, minute, second));
}

export function formatStampDate(date: Date): string {
  const p = (v: number) => String(v).padStart(2, "0");
  return p(date.getUTCFullYear() % 100) + p(date.getUTCMonth() + 1) + p(date.getUTCDate()) +
    p(date.getUTCHours()) + p(date.getUTCMinutes()) + p(date.getUTCSeconds());
}

/** Leading zero bits of a digest. */
export function leadingZeroBits(digest: Uint8Array): number {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

export function sha1ZeroBits(stamp: string): number {
  return leadingZeroBits(createHash("sha1").update(stamp).digest());
}

/** Checks a stamp for `resource` (the exact MAIL_TO address) without spending it. */
export function checkStamp(
  stamp: string | undefined,
  options: { resource: string; minBits: number; now: number },
): StampVerdict {
  if (!stamp) return { ok: false, problem: "missing" };
  if (stamp.length > 512) return { ok: false, problem: "malformed" };
  const parts = stamp.split(":");
  if (parts.length !== 7) return { ok: false, problem: "malformed" };
  const [version, bitsText, dateText, resource, , rand, counter] = parts;
  const bits = Number(bitsText);
  const date = parseStampDate(dateText);
  if (version !== "1" || !/^\d{1,3}$/.test(bitsText) || !date || !rand || !counter) {
    return { ok: false, problem: "malformed" };
  }
  if (resource !== options.resource) return { ok: false, problem: "resource" };
  if (date.getTime() > options.now + STAMP_MAX_AHEAD_MS) return { ok: false, problem: "future" };
  if (options.now - date.getTime() > STAMP_MAX_AGE_MS) return { ok: false, problem: "stale" };
  // The claimed bits must be really there; then the claim must meet our minimum.
  if (bits > 160 || sha1ZeroBits(stamp) < bits) return { ok: false, problem: "invalid" };
  if (bits < options.minBits) return { ok: false, problem: "weak" };
  return { ok: true, bits, date, expiresAt: date.getTime() + STAMP_MAX_AGE_MS };
}

/** Checks a stamp and spends it (each stamp is accepted once). */
export async function verifyStamp(
  stamp: string | undefined,
  options: { resource: string; minBits: number; now: number; replay: ReplayTable },
): Promise<StampVerdict> {
  const verdict = checkStamp(stamp, options);
  if (!verdict.ok) return verdict;
  if (!await options.replay.claim(stamp!, verdict.expiresAt, options.now)) {
    return { ok: false, problem: "replayed" };
  }
  return verdict;
}

/** An in-memory replay table with expiry (one bridge process; see the module note). */
export class MemoryReplayTable implements ReplayTable {
  private readonly spent = new Map<string, number>();
  private claimsSincePrune = 0;

  constructor(private readonly maxEntries = 1_000_000) {}

  claim(stamp: string, expiresAt: number, now: number): boolean {
    if (++this.claimsSincePrune >= 1000 || this.spent.size >= this.maxEntries) this.prune(now);
    const until = this.spent.get(stamp);
    if (until !== undefined && until > now) return false;
    // Full of live stamps: refuse rather than forget one (a forgotten stamp could be replayed).
    if (this.spent.size >= this.maxEntries) return false;
    this.spent.set(stamp, expiresAt);
    return true;
  }

  prune(now: number): void {
    this.claimsSincePrune = 0;
    for (const [stamp, until] of this.spent) if (until <= now) this.spent.delete(stamp);
  }

  get size(): number {
    return this.spent.size;
  }
}

export class MintError extends Error {
  override name = "MintError";
}

/**
 * Mints a stamp of `bits` for `resource`. Expected work is 2^bits hashes (18 bits: about a
 * second of one core); the loop gives up after 2^(bits+5) tries (a failure chance of e^-32) and
 * yields to the event loop every `slice` hashes so a bridge keeps serving while it mints.
 */
export async function mintStamp(
  resource: string,
  bits: number,
  options: { now?: Date; slice?: number; maxTries?: number } = {},
): Promise<string> {
  if (bits < 0 || bits > 40) throw new MintError(`refusing to mint ${bits} bits`);
  if (resource.includes(":")) {
    throw new MintError("a resource with ':' cannot be stamped (SHARP/1.3 `user#domain:port`)");
  }
  const prefix = `1:${bits}:${formatStampDate(options.now ?? new Date())}:${resource}::${
    randomBytes(12).toString("base64")
  }:`;
  const maxTries = options.maxTries ?? 2 ** (bits + 5);
  const slice = options.slice ?? 20_000;
  for (let counter = 0; counter < maxTries; counter++) {
    const stamp = prefix + counter.toString(16);
    if (sha1ZeroBits(stamp) >= bits) return stamp;
    if (counter % slice === slice - 1) await new Promise((r) => setTimeout(r, 0));
  }
  throw new MintError(`no ${bits}-bit stamp found in ${maxTries} tries`);
}

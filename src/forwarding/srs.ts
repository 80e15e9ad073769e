/**
 * The Sender Rewriting Scheme as libsrs2 and postsrsd write it (Shevek's "Sender Rewriting
 * Scheme" paper, the de-facto standard; no RFC): a forwarder replaces the envelope sender with
 * an address in its own domain, so that SPF (RFC 7208) at the next hop checks the forwarder's
 * record, and a bounce to that address can be turned back into the original sender.
 *
 *   SRS0=HHHH=TT=orig-domain=orig-local@forward-domain            (first forwarder)
 *   SRS1=HHHH=first-hop==HHHH=TT=orig-domain=orig-local@forward-domain   (a later one)
 *
 * TT is the day (days since the epoch mod 1024, two base32 characters) and HHHH an HMAC over the
 * lower-cased fields, so only holders of the key mint addresses that reverse, and an address
 * stops reversing after `MAX_AGE_DAYS` (a harvested address is no open relay for long).
 * Deviation from libsrs2: the hash is base32, not base64. Hashes are checked case-insensitively
 * (some MTAs fold local parts to lower case), and base32 keeps every bit under that rule, where a
 * case-folded base64 hash loses about one bit per character. Pure: no I/O, WebCrypto only.
 */

/** libsrs2's base32 alphabet (RFC 4648 section 6), for the day stamp and here the hash too. */
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/** Hash characters: 6 × 5 = 30 bits (libsrs2's default is 4 base64 characters, 24 bits). */
export const HASH_LENGTH = 6;
/** libsrs2's and postsrsd's default: an address reverses for 21 days. */
export const MAX_AGE_DAYS = 21;
const DAY_MS = 86_400_000;
/** The stamp wraps every 1024 days (two base32 characters). */
const STAMP_PERIOD = 1024;
/** libsrs2 accepts `=`, `+` and `-` after the SRS0/SRS1 tag; it writes `=`. */
const TAG = /^SRS([01])([=+-])/i;

const encoder = new TextEncoder();

export type SrsKey = CryptoKey;

/** The HMAC key of `secret` (every gateway of one installation must derive the same). */
export async function srsKey(secret: Uint8Array): Promise<SrsKey> {
  return await crypto.subtle.importKey(
    "raw",
    secret as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

async function hash(key: SrsKey, ...parts: string[]): Promise<string> {
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode(parts.join("").toLowerCase())),
  );
  let out = "";
  // 5 bits per character from the front of the MAC.
  for (let i = 0; i < HASH_LENGTH; i++) {
    const bit = i * 5;
    const byte = bit >> 3;
    const word = (mac[byte] << 8) | mac[byte + 1];
    out += BASE32[(word >> (11 - (bit & 7))) & 31];
  }
  return out;
}

/** Today's stamp: two base32 characters of the day number mod 1024. */
export function stampOf(now: number): string {
  const day = Math.floor(now / DAY_MS) % STAMP_PERIOD;
  return BASE32[day >> 5] + BASE32[day & 31];
}

/** Whether `stamp` was made within the last MAX_AGE_DAYS days (wrap-around handled). */
export function stampFresh(stamp: string, now: number): boolean {
  const s = stamp.toUpperCase();
  if (s.length !== 2) return false;
  const hi = BASE32.indexOf(s[0]), lo = BASE32.indexOf(s[1]);
  if (hi < 0 || lo < 0) return false;
  const today = Math.floor(now / DAY_MS) % STAMP_PERIOD;
  const age = (today - ((hi << 5) | lo) + STAMP_PERIOD) % STAMP_PERIOD;
  return age <= MAX_AGE_DAYS;
}

function sameHash(a: string, b: string): boolean {
  const x = a.toUpperCase(), y = b.toUpperCase();
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x.charCodeAt(i) ^ y.charCodeAt(i);
  return diff === 0;
}

function split(address: string): { local: string; domain: string } | undefined {
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) return undefined;
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/**
 * The envelope sender a message from `sender` leaves `forwardDomain` with: SRS0 for an ordinary
 * address, SRS1 for one that is already SRS0 or SRS1 (the first hop is kept, so a bounce goes
 * straight back to it). `sender` must be a non-empty address: a null sender is never rewritten.
 */
export async function srsForward(
  key: SrsKey,
  sender: string,
  forwardDomain: string,
  now: number,
): Promise<string> {
  const parts = split(sender);
  if (!parts) throw new Error(`not an address: ${sender}`);
  const { local, domain } = parts;
  const tag = TAG.exec(local);
  if (tag?.[1] === "1") {
    // SRS1<sep>HHHH=first-hop=rest: keep the first hop and its opaque part, hash anew.
    const body = local.slice(5);
    const i = body.indexOf("=");
    const j = i < 0 ? -1 : body.indexOf("=", i + 1);
    if (j > i + 1) {
      const host = body.slice(i + 1, j), user = body.slice(j + 1);
      return `SRS1=${await hash(key, host, user)}=${host}=${user}@${forwardDomain}`;
    }
  } else if (tag?.[1] === "0") {
    // SRS0<sep>…@first-hop: the first hop is that address's domain; its opaque part stays.
    const user = local.slice(4);
    return `SRS1=${await hash(key, domain, user)}=${domain}=${user}@${forwardDomain}`;
  }
  const stamp = stampOf(now);
  return `SRS0=${await hash(
    key,
    stamp,
    domain,
    local,
  )}=${stamp}=${domain}=${local}@${forwardDomain}`;
}

export type SrsReverse =
  | { ok: true; address: string }
  | { ok: false; reason: "not_srs" | "malformed" | "bad_hash" | "expired" };

/**
 * The address an SRS address of ours stands for: the original sender for SRS0 (hash and age
 * checked), the first hop's SRS0 address for SRS1 (hash checked; the first hop checks the age).
 */
export async function srsReverse(key: SrsKey, address: string, now: number): Promise<SrsReverse> {
  const parts = split(address);
  const tag = parts ? TAG.exec(parts.local) : null;
  if (!parts || !tag) return { ok: false, reason: "not_srs" };
  const body = parts.local.slice(5);
  if (tag[1] === "0") {
    // HHHH=TT=domain=local (the original local part may itself hold `=`).
    const [h, stamp, domain, ...rest] = body.split("=");
    const local = rest.join("=");
    if (!h || !stamp || !domain || !local) return { ok: false, reason: "malformed" };
    if (!sameHash(h, await hash(key, stamp, domain, local))) {
      return { ok: false, reason: "bad_hash" };
    }
    if (!stampFresh(stamp, now)) return { ok: false, reason: "expired" };
    return { ok: true, address: `${local}@${domain}` };
  }
  const i = body.indexOf("=");
  const j = i < 0 ? -1 : body.indexOf("=", i + 1);
  if (i <= 0 || j <= i + 1 || j === body.length - 1) return { ok: false, reason: "malformed" };
  const h = body.slice(0, i), host = body.slice(i + 1, j), user = body.slice(j + 1);
  if (!sameHash(h, await hash(key, host, user))) return { ok: false, reason: "bad_hash" };
  return { ok: true, address: `SRS0${user}@${host}` };
}

/** Whether the local part carries an SRS tag (cheap test before any lookup). */
export function looksLikeSrs(address: string): boolean {
  return TAG.test(address);
}

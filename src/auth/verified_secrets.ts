/**
 * A short memory of secrets that just verified, for the protocols whose clients log in again and
 * again with the same password (IMAP, POP3 and SMTP AUTH: a mail client opens a connection per
 * poll, often several at once). Each argon2id check costs tens of milliseconds of CPU on purpose;
 * re-running it for a secret this process verified minutes ago buys no security against anyone
 * who does not already hold the password. Dovecot's authentication cache does the same
 * (`auth_cache_ttl`; it keeps a SHA-1 of a verified plaintext in place of a slow hash).
 *
 * What is kept: per stored hash (a PHC string, unique per password and salt), an HMAC-SHA-256 of
 * the secret under a key made at random in this process and never stored. So:
 * - a changed password or a deleted app password has another (or no) stored hash: never a hit;
 * - only successes are remembered: a wrong guess never matches and still pays the full argon2id,
 *   so guessing gets no cheaper (and the throttle counts it before any of this);
 * - entries expire after TTL_MS and at most MAX_ENTRIES are kept (the oldest go first).
 * Callers still check that the account exists, is enabled and which secrets count (2FA).
 */
import { timingSafeEqual, toHex } from "../crypto.ts";

/** How long a verified secret is remembered (mail clients poll every few minutes). */
const TTL_MS = 15 * 60_000;
/** Bound on entries (each well under 200 bytes). */
const MAX_ENTRIES = 10_000;

const entries = new Map<string, { mac: string; expiresAt: number }>();
let key: Promise<CryptoKey> | undefined;

async function macOf(secret: string): Promise<string> {
  key ??= crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]) as Promise<
    CryptoKey
  >;
  const mac = await crypto.subtle.sign("HMAC", await key, new TextEncoder().encode(secret));
  return toHex(mac);
}

/**
 * The secret's check against stored hashes, remembered: `verified(secret)` answers from memory
 * whether `secret` verified against `storedHash` within TTL_MS, and `remember` records a success.
 */
export async function secretMemory(secret: string, now: number) {
  const mac = await macOf(secret);
  return {
    verified(storedHash: string): boolean {
      const hit = entries.get(storedHash);
      if (!hit) return false;
      if (hit.expiresAt <= now) {
        entries.delete(storedHash);
        return false;
      }
      return timingSafeEqual(hit.mac, mac);
    },
    remember(storedHash: string): void {
      entries.delete(storedHash);
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
      entries.set(storedHash, { mac, expiresAt: now + TTL_MS });
    },
  };
}

/** Forgets every remembered secret (tests; an operator's "log everyone in afresh"). */
export function forgetVerifiedSecrets(): void {
  entries.clear();
}

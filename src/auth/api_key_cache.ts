/**
 * A short-lived memory of API keys this process has verified, so that a busy key (the bridge's,
 * which calls the gateway twice per received message) does not cost a database read per request.
 * Revoking a key, or changing or deleting its account, empties the cache at once in this process;
 * other processes sharing the store see such a change within `API_KEY_CACHE_MS`.
 */
import type { AuthContext } from "./auth_context.ts";

export const API_KEY_CACHE_MS = 5_000;
const LIMIT = 1_000;

interface Entry {
  auth: AuthContext;
  until: number;
  lastUsedAt: number;
}

const entries = new Map<string, Entry>();

export function cachedApiKey(keyHash: string, nowMs: number): Entry | undefined {
  const hit = entries.get(keyHash);
  if (!hit) return undefined;
  if (hit.until <= nowMs) {
    entries.delete(keyHash);
    return undefined;
  }
  return hit;
}

export function rememberApiKey(
  keyHash: string,
  auth: AuthContext,
  lastUsedAt: number,
  nowMs: number,
): void {
  if (entries.size >= LIMIT) entries.clear();
  entries.set(keyHash, { auth, lastUsedAt, until: nowMs + API_KEY_CACHE_MS });
}

/** Call after anything that could change what a key may do (revocation, account changes). */
export function invalidateApiKeyCache(): void {
  entries.clear();
}

/**
 * Sign-in throttling, shared by HTTP login, the bridge's IMAP/POP3/SMTP AUTH check and password
 * re-confirmation, and kept in the store (`login_failures`) so every gateway process sees the
 * same counts. Three counters per attempt, each one row:
 *
 * - `pair:<account>|<source>`: failures of one source against one account. Past
 *   `loginFailuresBeforeDelay`, the next attempt from that source to that account must wait a
 *   delay that doubles per failure up to `loginMaxDelaySeconds` (the answer meanwhile is 429
 *   with Retry-After, the right password included). A success clears it.
 * - `ip:<source>`: failures of one source across all accounts, with the same escalating delay
 *   past `loginIpFailuresBeforeDelay` (password spraying). A success does not clear it.
 * - `account:<account>`: failures from every source together; at `loginAccountLockFailures`
 *   (when not 0) the account is locked for everyone for `loginAccountLockSeconds`. This is the
 *   last resort against a distributed guesser, never the first answer to a few wrong passwords:
 *   a lock that 5 anonymous requests can trip is a weapon against the owner (issue 15 item 2).
 *
 * `<account>` is the resolved account id, so every spelling that reaches one account (case,
 * surrounding space, a trailing dot, SHARP's `#`) shares its counters (issue 15 item 1); for an
 * address with no account it is the normalised address, so a guesser cannot tell the two apart
 * by how they are throttled. `<source>` is an IPv4 address or an IPv6 /64 (one subscriber's
 * prefix: per-address counting would give an IPv6 attacker 2^64 fresh sources). The scheme is
 * Dovecot's auth penalty (a doubling delay per source) and mox's per-source limits, with the
 * counts in the store instead of process memory.
 *
 * A row is forgotten once `loginFailureMemorySeconds` have passed after its delay ended without
 * another failure. Each failure is one upsert per counter, computed in SQL, so processes racing
 * on one row never lose a count.
 */
import { normalizeAddress } from "../../schemas/address.ts";
import type { Config } from "../config.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import { rawSql } from "../store/store.ts";
import { throttleSource } from "./throttle_source.ts";

/** Whom one sign-in attempt is about: the account (when one matched) or the typed address. */
export interface Attempt {
  accountId: number | undefined;
  /** The address as typed; used only when no account matched. */
  address: string;
  ip: string;
}

type Limits = Pick<
  Config,
  | "loginFailuresBeforeDelay"
  | "loginIpFailuresBeforeDelay"
  | "loginDelaySeconds"
  | "loginMaxDelaySeconds"
  | "loginFailureMemorySeconds"
  | "loginAccountLockFailures"
  | "loginAccountLockSeconds"
>;

/** The account part of the keys: the id, else the normalised address (or one bucket for junk). */
function accountPart(attempt: Attempt): string {
  if (attempt.accountId !== undefined) return `id:${attempt.accountId}`;
  const normal = normalizeAddress(attempt.address);
  return normal ? `addr:${normal.toLowerCase()}` : "unparsable";
}

function keysOf(attempt: Attempt) {
  const account = accountPart(attempt);
  const source = throttleSource(attempt.ip);
  return {
    pair: `pair:${account}|${source}`,
    ip: `ip:${source}`,
    // Only real accounts can be locked: a row per sprayed non-address would buy nothing.
    account: attempt.accountId === undefined ? undefined : `account:${account}`,
  };
}

/**
 * Throws 429 (with Retry-After, in seconds) while any counter of this attempt is in its delay
 * or lock. Call before checking the secret: a delayed attempt must learn nothing about it.
 */
export async function assertMayAttempt(store: Store, attempt: Attempt, now: number) {
  const { pair, ip, account } = keysOf(attempt);
  const keys = [pair, ip, ...(account ? [account] : [])];
  const row = await rawSql(store.db).get<{ until: number | null }>(
    `SELECT max(locked_until) AS until FROM login_failures WHERE key IN (${
      keys.map(() => "?").join(",")
    }) AND locked_until > ?`,
    [...keys, now],
  );
  if (row?.until == null) return;
  const retry = Math.max(1, Math.ceil((Number(row.until) - now) / 1000));
  throw new AppError(
    429,
    "too_many_requests",
    "too many failed sign-ins; try again later",
    undefined,
    { "Retry-After": String(retry) },
  );
}

// One upsert per counter, with numbered parameters: ?1 key, ?2 now, ?3 memory (ms), ?4 the
// count where the delay or lock starts, ?5 and ?6 the delay's first step and cap (the lock's
// length twice for the account). `reset` says the old row is stale; `n` is the count after this
// failure. In an UPDATE's SET every column reads the old row, so both are spelled out in place.
const upsert = (reset: string, untilOf: (n: string) => string) => {
  const n = `(CASE WHEN ${reset} THEN 1 ELSE count + 1 END)`;
  return `INSERT INTO login_failures (key, count, window_start, locked_until)
    VALUES (?1, 1, ?2, ${untilOf("1")})
    ON CONFLICT (key) DO UPDATE SET
      count = ${n},
      window_start = CASE WHEN ${reset} THEN ?2 ELSE window_start END,
      locked_until = ${untilOf(n)}
    RETURNING count, locked_until`;
};

const STALE = "?2 > locked_until + ?3";
// From the `free`-th failure on: step * 2^(n - free), capped (the shift too: 2^30 ms is 12 days).
const DELAYED = upsert(
  STALE,
  (n) => `?2 + CASE WHEN ${n} < ?4 THEN 0 ELSE min(?6, ?5 * (1 << min(30, ${n} - ?4))) END`,
);
// A lock that has run out starts a fresh count: the next failure must not re-lock at once.
const LOCKING = upsert(
  `(${STALE} OR (count >= ?4 AND ?2 >= locked_until))`,
  (n) => `?2 + CASE WHEN ${n} >= ?4 THEN ?6 ELSE 0 END`,
);

const PRUNE_CHANCE = 1 / 64;

interface Counted {
  count: number;
  locked_until: number;
}

/** Counts a failed attempt against its pair, its source and (if any) its account. */
export async function recordFailure(deps: Deps, attempt: Attempt, now: number): Promise<void> {
  const limits: Limits = deps.config;
  const memory = limits.loginFailureMemorySeconds * 1000;
  const step = limits.loginDelaySeconds * 1000;
  const cap = limits.loginMaxDelaySeconds * 1000;
  const lockFailures = limits.loginAccountLockFailures;
  const { pair, ip, account } = keysOf(attempt);
  const locked = await deps.store.write(async (tx) => {
    const sql = rawSql(tx);
    await sql.run(DELAYED, [pair, now, memory, limits.loginFailuresBeforeDelay, step, cap]);
    await sql.run(DELAYED, [ip, now, memory, limits.loginIpFailuresBeforeDelay, step, cap]);
    if (!account || lockFailures === 0) return undefined;
    const lockMs = limits.loginAccountLockSeconds * 1000;
    return await sql.get<Counted>(LOCKING, [account, now, memory, lockFailures, lockMs, lockMs]);
  });
  // Now and then, forget long-quiet rows (each new source and typed address adds one).
  if (Math.random() < PRUNE_CHANCE) {
    await pruneFailures(deps.store, now, limits.loginFailureMemorySeconds);
  }
  if (locked && Number(locked.count) === lockFailures) {
    deps.logger.log("warn", "auth.account_locked", {
      accountId: attempt.accountId,
      failures: lockFailures,
      until: new Date(Number(locked.locked_until)).toISOString(),
    });
  }
}

/** A right secret: the pair starts afresh (the source and the account counts stay). */
export async function clearPair(store: Store, attempt: Attempt): Promise<void> {
  await rawSql(store.db).run("DELETE FROM login_failures WHERE key = ?", [keysOf(attempt).pair]);
}

/** Drops rows whose delay or lock ended longer than the memory ago (they would reset anyway). */
export async function pruneFailures(store: Store, now: number, memorySeconds: number) {
  await rawSql(store.db).run("DELETE FROM login_failures WHERE locked_until < ?", [
    now - memorySeconds * 1000,
  ]);
}

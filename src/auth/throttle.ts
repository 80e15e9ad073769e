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
 * Every attempt is counted as a failure before its secret is checked (an argon2id run), in one
 * guarded upsert per counter computed in SQL, and a right secret gives the count back: checking
 * first and counting after would let a burst of parallel guesses all pass the check, and
 * processes racing on one row never lose a count. A row is forgotten once
 * `loginFailureMemorySeconds` have passed after its delay ended without another failure.
 */
import { normalizeAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import type { InValue } from "@libsql/client/web";
import type { Statement, Store } from "../store/store.ts";
import { rawSql } from "../store/store.ts";
import { throttleSource } from "./throttle_source.ts";

/** Whom one sign-in attempt is about: the account (when one matched) or the typed address. */
export interface Attempt {
  accountId: number | undefined;
  /** The address as typed; used only when no account matched. */
  address: string;
  ip: string;
}

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

/** The 429 for a held attempt, with Retry-After in seconds (at least 1). */
async function held(store: Store, keys: string[], now: number): Promise<AppError> {
  const row = await rawSql(store.db).get<{ until: number | null }>(
    `SELECT max(locked_until) AS until FROM login_failures WHERE key IN (${
      keys.map(() => "?").join(",")
    })`,
    keys,
  );
  const retry = Math.max(1, Math.ceil((Number(row?.until ?? now) - now) / 1000));
  return new AppError(
    429,
    "too_many_requests",
    "too many failed sign-ins; try again later",
    undefined,
    { "Retry-After": String(retry) },
  );
}

// One upsert per counter, with numbered parameters: ?1 key, ?2 now, ?3 memory (ms), ?4 the
// count where the delay or lock starts, ?5 and ?6 the delay's first step and cap (the lock's
// length twice for the account), and for the guarded form ?7..?9 the attempt's keys. `reset`
// says the old row is stale; `n` is the count after this failure. In an UPDATE's SET every
// column reads the old row, so both are spelled out in place. The guard makes the check and the
// count one statement: two attempts racing cannot both pass a check neither has counted yet.
const upsert = (reset: string, untilOf: (n: string) => string, guard = "true") => {
  const n = `(CASE WHEN ${reset} THEN 1 ELSE count + 1 END)`;
  return `INSERT INTO login_failures (key, count, window_start, locked_until)
    SELECT ?1, 1, ?2, ${untilOf("1")} WHERE ${guard}
    ON CONFLICT (key) DO UPDATE SET
      count = ${n},
      window_start = CASE WHEN ${reset} THEN ?2 ELSE window_start END,
      locked_until = ${untilOf(n)}
    WHERE ${guard}
    RETURNING count, locked_until`;
};

const STALE = "?2 > locked_until + ?3";
// From the `free`-th failure on: step * 2^(n - free), capped (the shift too: 2^30 ms is 12 days).
const delayUntil = (n: string) =>
  `?2 + CASE WHEN ${n} < ?4 THEN 0 ELSE min(?6, ?5 * (1 << min(30, ${n} - ?4))) END`;
const FREE =
  "NOT EXISTS (SELECT 1 FROM login_failures WHERE key IN (?7, ?8, ?9) AND locked_until > ?2)";
// The counts after the first run in the same write job (one round trip): each only when the one
// before it wrote its row (SQLite's changes() is the previous statement's), so a guarded first
// count that found a delay stops the others too.
const AFTER_FIRST = "changes() > 0";
const DELAYED = upsert(STALE, delayUntil);
const DELAYED_IF_FREE = upsert(STALE, delayUntil, FREE);
const DELAYED_AFTER_FIRST = upsert(STALE, delayUntil, AFTER_FIRST);
// A lock that has run out starts a fresh count: the next failure must not re-lock at once.
const lockingUpsert = (guard?: string) =>
  upsert(
    `(${STALE} OR (count >= ?4 AND ?2 >= locked_until))`,
    (n) => `?2 + CASE WHEN ${n} >= ?4 THEN ?6 ELSE 0 END`,
    guard,
  );
const LOCKING = lockingUpsert();
const LOCKING_AFTER_FIRST = lockingUpsert(AFTER_FIRST);
// Gives back one counted failure; a delay this attempt started (`locked_until` still what it
// set) ends now, one that a later failure started stays.
const REFUND = "UPDATE login_failures SET count = count - 1, " +
  "locked_until = CASE WHEN locked_until = ?3 THEN ?2 ELSE locked_until END WHERE key = ?1";

const PRUNE_CHANCE = 1 / 64;

interface Counted {
  count: number;
  locked_until: number;
}

/** What one attempt was charged: each counter's key and the row after the charge. */
export interface Charge {
  attempt: Attempt;
  now: number;
  counted: { key: string; row: Counted }[];
}

/**
 * Counts the attempt as a failure before its secret is checked, or throws 429 (with
 * Retry-After) when its pair, its source or its account is held, in one statement per counter.
 * Counting first is what keeps a burst of parallel guesses to the free tries; a right secret
 * gives the count back (`giveBack`). So at most `loginFailuresBeforeDelay` sign-ins of one
 * account from one source are let through at once; more wait for a second.
 */
export async function chargeAttempt(deps: Deps, attempt: Attempt, now: number): Promise<Charge> {
  const { pair, ip, account } = keysOf(attempt);
  const counted = await count(deps, { pair, ip, account }, now, true);
  if (!counted) throw await held(deps.store, [pair, ip, ...(account ? [account] : [])], now);
  if (Math.random() < PRUNE_CHANCE) {
    await pruneFailures(deps.store, now, deps.config.loginFailureMemorySeconds);
  }
  return { attempt, now, counted };
}

/** Counts a failure with no check first (a wrong second factor during a sensitive change). */
export async function recordFailure(deps: Deps, attempt: Attempt, now: number): Promise<void> {
  const charge = { attempt, now, counted: (await count(deps, keysOf(attempt), now, false))! };
  failed(deps, charge);
}

async function count(
  deps: Deps,
  keys: ReturnType<typeof keysOf>,
  now: number,
  guarded: boolean,
): Promise<Charge["counted"] | undefined> {
  const limits = deps.config;
  const memory = limits.loginFailureMemorySeconds * 1000;
  const delay = [limits.loginDelaySeconds * 1000, limits.loginMaxDelaySeconds * 1000];
  const lockFailures = limits.loginAccountLockFailures;
  const { pair, ip, account } = keys;
  // One write job, one round trip: each counter's upsert returns its row.
  const guard = [pair, ip, account ?? pair];
  const steps: { key: string; sql: string; args: InValue[] }[] = [{
    key: pair,
    sql: guarded ? DELAYED_IF_FREE : DELAYED,
    args: [pair, now, memory, limits.loginFailuresBeforeDelay, ...delay, ...(guarded ? guard : [])],
  }, {
    key: ip,
    sql: guarded ? DELAYED_AFTER_FIRST : DELAYED,
    args: [ip, now, memory, limits.loginIpFailuresBeforeDelay, ...delay],
  }];
  if (account && lockFailures > 0) {
    const lockMs = limits.loginAccountLockSeconds * 1000;
    steps.push({
      key: account,
      sql: guarded ? LOCKING_AFTER_FIRST : LOCKING,
      args: [account, now, memory, lockFailures, lockMs, lockMs],
    });
  }
  const results = await deps.store.batch(steps);
  if (results[0].rows.length === 0) return undefined;
  return steps.map(({ key }, i) => ({ key, row: results[i].rows[0] as unknown as Counted }));
}

/** The secret was wrong: the charge stands. Notes a last-resort lock this failure started. */
export function failed(deps: Deps, charge: Charge): void {
  const lock = charge.counted.find((c) => c.key.startsWith("account:"));
  if (lock && Number(lock.row.count) === deps.config.loginAccountLockFailures) {
    deps.logger.log("warn", "auth.account_locked", {
      accountId: charge.attempt.accountId,
      failures: Number(lock.row.count),
      until: new Date(Number(lock.row.locked_until)).toISOString(),
    });
  }
}

/**
 * The secret was right. `signedIn`: the pair starts afresh and the source's and the account's
 * counts go back. Otherwise (a second factor is still asked) every count just goes back, so a
 * right password cannot be used to reset the pair between guesses at the second factor.
 */
export async function giveBack(store: Store, charge: Charge, signedIn: boolean): Promise<void> {
  await store.batch(giveBackStatements(charge, signedIn));
}

/** `giveBack` as statements, for a caller's own write job (a sign-in's, with its session). */
export function giveBackStatements(charge: Charge, signedIn: boolean): Statement[] {
  const [pair, ...rest] = charge.counted;
  return [
    ...signedIn ? [{ sql: "DELETE FROM login_failures WHERE key = ?", args: [pair.key] }] : [],
    ...(signedIn ? rest : charge.counted).map(({ key, row }) => ({
      sql: REFUND,
      args: [key, charge.now, Number(row.locked_until)],
    })),
  ];
}

/** Drops rows whose delay or lock ended longer than the memory ago (they would reset anyway). */
export async function pruneFailures(store: Store, now: number, memorySeconds: number) {
  await rawSql(store.db).run("DELETE FROM login_failures WHERE locked_until < ?", [
    now - memorySeconds * 1000,
  ]);
}

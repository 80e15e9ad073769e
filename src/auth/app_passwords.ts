/**
 * App passwords: per-device secrets for IMAP, POP3 and SMTP AUTH, where no second factor can be
 * asked. Each is four groups of four lowercase letters (about 75 bits), shown once and stored as
 * an argon2id hash. `verifyAccountSecret` is the one check the bridge uses: the account password
 * counts only while 2FA is off; app passwords always count. Failures share login's throttle.
 * Successes are remembered for a few minutes (verified_secrets.ts), so a mail client's next
 * connection does not pay the argon2id run again.
 */
import { and, eq } from "drizzle-orm";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { type Account, findAccountByAddress } from "../services/accounts.ts";
import type { Queryable, Statement, Store } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import { decoyHash, hashPassword, verifyPassword } from "./password.ts";
import { chargeAttempt, failed, giveBack, giveBackStatements, recordFailure } from "./throttle.ts";
import { secretMemory } from "./verified_secrets.ts";

export type AppPasswordRow = typeof schema.appPasswords.$inferSelect;

const LETTERS = "abcdefghijklmnopqrstuvwxyz";
/** Accounts may hold at most this many app passwords (each verify costs an argon2id run). */
export const MAX_APP_PASSWORDS = 25;

/** A new app password like `abcd-efgh-ijkl-mnop` (uniform letters: rejection sampling). */
export function newAppPassword(): string {
  const out: string[] = [];
  while (out.length < 16) {
    for (const b of crypto.getRandomValues(new Uint8Array(32))) {
      // 234 = 9 * 26: bytes above it would bias the first letters.
      if (b < 234 && out.length < 16) out.push(LETTERS[b % 26]);
    }
  }
  const s = out.join("");
  return `${s.slice(0, 4)}-${s.slice(4, 8)}-${s.slice(8, 12)}-${s.slice(12)}`;
}

/** Clients may type the groups with spaces, dashes or none, in any case. */
export function normalizeAppPassword(secret: string): string | undefined {
  const compact = secret.replace(/[\s-]/g, "").toLowerCase();
  return /^[a-z]{16}$/.test(compact) ? compact : undefined;
}

const appPasswordsSql = tableSql(schema.appPasswords);

export async function createAppPassword(
  store: Store,
  accountId: number,
  name: string,
): Promise<{ row: AppPasswordRow; password: string }> {
  const password = newAppPassword();
  const passwordHash = await hashPassword(normalizeAppPassword(password)!);
  // One write job: the insert itself refuses the one past the limit.
  const [inserted] = await store.batch([{
    sql: `INSERT INTO app_passwords (account_id, name, password_hash) SELECT ?1, ?2, ?3
      WHERE (SELECT count(*) FROM app_passwords WHERE account_id = ?1) < ?4
      RETURNING ${appPasswordsSql.columns}`,
    args: [accountId, name.trim(), passwordHash, MAX_APP_PASSWORDS],
  }]);
  if (inserted.rows.length === 0) {
    throw new AppError(
      409,
      "conflict",
      `an account holds at most ${MAX_APP_PASSWORDS} app passwords`,
    );
  }
  const row = appPasswordsSql.fromRow(inserted.rows[0] as unknown as Record<string, unknown>);
  return { row, password };
}

export async function listAppPasswords(
  db: Queryable,
  accountId: number,
): Promise<AppPasswordRow[]> {
  return await db.select().from(schema.appPasswords)
    .where(eq(schema.appPasswords.accountId, accountId))
    .orderBy(schema.appPasswords.id);
}

export async function deleteAppPassword(
  store: Store,
  accountId: number,
  id: number,
): Promise<AppPasswordRow> {
  const [row] = await store.db.delete(schema.appPasswords).where(and(
    eq(schema.appPasswords.id, id),
    eq(schema.appPasswords.accountId, accountId),
  )).returning();
  if (!row) throw notFound("app password");
  return row;
}

/**
 * Checks a password-only credential (IMAP/POP3/SMTP AUTH): the account password while 2FA is
 * off, or any of the account's app passwords (whose `lastUsedAt` is then updated). Returns the
 * account, or undefined when the secret is wrong or the account is unknown or disabled. Throws
 * a 429 AppError (with Retry-After) while this (account, source) pair or this source is in its
 * delay, or the account in its last-resort lock, as login does. `ip` must be the client's (the
 * bridge passes its socket's peer), never the bridge's own. `alsoWrite` gives statements to
 * commit, once the secret verified, in the same write job as the throttle's give-back (the
 * bridge's session row): one durable write per login instead of two.
 */
export async function verifyAccountSecret(
  deps: Deps,
  address: string,
  secret: string,
  opts: { ip?: string; alsoWrite?: (account: Account) => Promise<Statement[]> } = {},
): Promise<Account | undefined> {
  const now = deps.clock.now();
  const ip = opts.ip ?? "unknown";
  const account = await findAccountByAddress(deps.store.db, address);
  const charge = await chargeAttempt(deps, { accountId: account?.id, address, ip }, now);
  let ok = false;
  if (account && !account.disabled) {
    // A secret verified here minutes ago skips its argon2id run (verified_secrets.ts).
    const memory = await secretMemory(secret, now);
    const check = async (plain: string, hash: string) => {
      if (memory.verified(hash)) return true;
      if (!await verifyPassword(plain, hash)) return false;
      memory.remember(hash);
      return true;
    };
    if (!account.totpEnabled && await check(secret, account.passwordHash)) ok = true;
    const compact = ok ? undefined : normalizeAppPassword(secret);
    if (compact) {
      for (const row of await listAppPasswords(deps.store.db, account.id)) {
        if (await check(compact, row.passwordHash)) {
          await deps.store.db.update(schema.appPasswords).set({ lastUsedAt: now })
            .where(eq(schema.appPasswords.id, row.id));
          ok = true;
          break;
        }
      }
    }
  } else {
    // Same cost whether or not the address exists.
    await verifyPassword(secret, await decoyHash());
  }
  if (!ok || !account || account.disabled) {
    failed(deps, charge);
    deps.logger.log("warn", "auth.secret_failed", { ip });
    return undefined;
  }
  const also = opts.alsoWrite ? await opts.alsoWrite(account) : [];
  await deps.store.batch([...giveBackStatements(charge, true), ...also]);
  return account;
}

/**
 * Re-checks the signed-in account's password before a sensitive change (2FA, password change).
 * Wrong guesses count towards the login throttle; a wrong password is 403 so clients do not
 * mistake it for an ended session.
 */
export async function confirmPassword(
  deps: Deps,
  account: Account,
  password: string,
  ip: string,
): Promise<void> {
  const now = deps.clock.now();
  const attempt = { accountId: account.id, address: account.address, ip };
  const charge = await chargeAttempt(deps, attempt, now);
  if (!await verifyPassword(password, account.passwordHash)) {
    failed(deps, charge);
    throw new AppError(403, "invalid_credentials", "the current password is wrong");
  }
  await giveBack(deps.store, charge, true);
}

/** Counts a wrong second factor during a sensitive change towards the login throttle. */
export async function recordSecondFactorFailure(
  deps: Deps,
  account: Account,
  ip: string,
): Promise<void> {
  const attempt = { accountId: account.id, address: account.address, ip };
  await recordFailure(deps, attempt, deps.clock.now());
}

/**
 * Sign-in sessions: password (then TOTP or a recovery code when 2FA is on) → a session row, a
 * short-lived access JWT and a refresh token (stored as a SHA-256, rotated on each use; a reused
 * old refresh token finds nothing). Failures are throttled per (account, source) pair, per source
 * and, as a last resort, per account (auth/throttle.ts).
 */
import { and, eq, isNull } from "drizzle-orm";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { randomToken, sha256Hex } from "../crypto.ts";
import { schema } from "../store/store.ts";
import { findAccountByAddress } from "../services/accounts.ts";
import { decoyHash, upgradedHash, verifyPassword } from "./password.ts";
import { signAccessToken } from "./tokens.ts";
import { MAIL_SESSION_AGENT } from "../services/mail_access_session.ts";
import { type Charge, chargeAttempt, failed, giveBack, giveBackStatements } from "./throttle.ts";
import { sessionRowStatement } from "./session_row.ts";
import { verifyTotp } from "./totp.ts";
import { useRecoveryCode } from "./two_factor.ts";

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: "Bearer";
  expiresIn: number;
}

export interface LoginInput {
  address: string;
  password: string;
  totp?: string;
  recoveryCode?: string;
  ip: string;
  userAgent: string;
}

const invalid = () => new AppError(401, "invalid_credentials", "the address or password is wrong");

function failure(deps: Deps, charge: Charge): void {
  failed(deps, charge);
  deps.logger.log("warn", "auth.login_failed", { ip: charge.attempt.ip });
}

/** Checks a second factor: a TOTP code, or a recovery code (used up when it matches). */
async function checkSecondFactor(
  deps: Deps,
  account: typeof schema.accounts.$inferSelect,
  input: LoginInput,
  now: number,
): Promise<boolean> {
  if (input.totp && account.totpSecret) {
    const secret = await deps.secrets.open(account.totpSecret);
    return verifyTotp(secret, input.totp.trim(), now);
  }
  if (input.recoveryCode) return await useRecoveryCode(deps, account.id, input.recoveryCode);
  return false;
}

/** Verifies the password (and second factor); used by login and by IMAP/SMTP-style checks. */
export async function login(deps: Deps, input: LoginInput): Promise<TokenPair> {
  const now = deps.clock.now();
  // The account is resolved first so that every spelling of it meets the same counters.
  const account = await findAccountByAddress(deps.store.db, input.address);
  const attempt = { accountId: account?.id, address: input.address, ip: input.ip };
  const charge = await chargeAttempt(deps, attempt, now);
  const ok = await verifyPassword(input.password, account?.passwordHash ?? await decoyHash());
  if (!account || !ok || account.disabled) {
    failure(deps, charge);
    throw invalid();
  }
  if (account.totpEnabled) {
    if (!input.totp && !input.recoveryCode) {
      await giveBack(deps.store, charge, false);
      throw new AppError(401, "totp_required", "this account uses two-factor sign-in: send `totp`");
    }
    if (!await checkSecondFactor(deps, account, input, now)) {
      failure(deps, charge);
      throw new AppError(401, "invalid_totp", "the one-time code is wrong or expired");
    }
  }
  const refreshToken = randomToken();
  const sessionId = crypto.randomUUID();
  // A PBKDF2 hash (made where WebAssembly was refused) becomes argon2id now that the password is
  // known, in the same write job; guarded, so a password changed meanwhile is not overwritten.
  const rehash = await upgradedHash(input.password, account.passwordHash);
  const upgrade = rehash
    ? [{
      sql: "UPDATE accounts SET password_hash = ? WHERE id = ? AND password_hash = ?",
      args: [rehash, account.id, account.passwordHash],
    }]
    : [];
  // The counts given back, the session opened and any rehash in one write job (one round trip).
  const session = await sessionRowStatement(deps, {
    id: sessionId,
    accountId: account.id,
    refreshToken,
    userAgent: input.userAgent,
    ip: input.ip,
  }, now);
  await deps.store.batch([...giveBackStatements(charge, true), ...upgrade, session]);
  deps.logger.log("info", "auth.login", { accountId: account.id, ip: input.ip });
  if (rehash) deps.logger.log("info", "auth.password_rehashed", { accountId: account.id });
  return await issue(deps, account.id, sessionId, refreshToken, now);
}

async function issue(
  deps: Deps,
  accountId: number,
  sessionId: string,
  refreshToken: string,
  now: number,
  mail = false,
): Promise<TokenPair> {
  const ttl = deps.config.accessTokenTtlSeconds;
  const accessToken = await signAccessToken(
    deps.jwtKey,
    deps.config.hostname,
    { accountId, sessionId, ...(mail ? { mail: true } : {}) },
    ttl,
    now,
  );
  return { accessToken, refreshToken, tokenType: "Bearer", expiresIn: ttl };
}

/** Exchanges a refresh token for a new pair; the old refresh token stops working. */
export async function refresh(deps: Deps, refreshToken: string): Promise<TokenPair> {
  const now = deps.clock.now();
  const hash = await sha256Hex(refreshToken);
  const next = randomToken();
  const nextHash = await sha256Hex(next);
  // Rotated by one guarded statement: of two refreshes with one token, one finds it.
  const [rotated] = await deps.store.batch([{
    sql: "UPDATE sessions SET refresh_hash = ? WHERE refresh_hash = ? AND revoked_at IS NULL " +
      "AND expires_at > ? RETURNING id, account_id AS accountId, user_agent AS userAgent",
    args: [nextHash, hash, now],
  }]);
  const session = rotated.rows[0] as unknown as
    | { id: string; accountId: number; userAgent: string }
    | undefined;
  if (!session) {
    throw new AppError(401, "token_invalid", "the refresh token is unknown, used or expired");
  }
  // A bridge's IMAP/POP3 session stays mail-only when it is renewed.
  const mail = session.userAgent.startsWith(MAIL_SESSION_AGENT);
  return await issue(deps, Number(session.accountId), session.id, next, now, mail);
}

export async function logout(deps: Deps, sessionId: string): Promise<void> {
  await deps.store.db.update(schema.sessions).set({ revokedAt: deps.clock.now() })
    .where(eq(schema.sessions.id, sessionId));
}

/** "Sign out everywhere": every live session of the account stops working (app passwords and
 * API keys are separate credentials and stay). Returns how many sessions ended. */
export async function logoutEverywhere(deps: Deps, accountId: number): Promise<number> {
  const ended = await deps.store.db.update(schema.sessions).set({ revokedAt: deps.clock.now() })
    .where(and(eq(schema.sessions.accountId, accountId), isNull(schema.sessions.revokedAt)))
    .returning({ id: schema.sessions.id });
  return ended.length;
}

/** Ends the session a refresh token belongs to (a page's sign-out: it holds only the cookie). */
export async function logoutByRefreshToken(deps: Deps, refreshToken: string): Promise<void> {
  await deps.store.db.update(schema.sessions).set({ revokedAt: deps.clock.now() })
    .where(and(
      eq(schema.sessions.refreshHash, await sha256Hex(refreshToken)),
      isNull(schema.sessions.revokedAt),
    ));
}

/**
 * Turning TOTP two-factor sign-in (RFC 6238) on and off. Setup stores a new seed sealed with the
 * master key but leaves 2FA off until a code from the authenticator proves the seed was copied;
 * enabling hands out ten single-use recovery codes once (only their SHA-256 is kept).
 */
import { eq } from "drizzle-orm";
import type { Deps } from "../deps.ts";
import { AppError, conflict, notFound } from "../errors.ts";
import { type Account, getAccount } from "../services/accounts.ts";
import { schema } from "../store/store.ts";
import { sha256Hex } from "../crypto.ts";
import { confirmPassword, recordSecondFactorFailure } from "./app_passwords.ts";
import {
  newRecoveryCodes,
  newTotpSecret,
  normalizeRecoveryCode,
  totpFor,
  verifyTotp,
} from "./totp.ts";

export const TOTP_ISSUER = "Postern";

const wrongCode = () => new AppError(403, "invalid_totp", "the one-time code is wrong or expired");

async function load(deps: Deps, accountId: number): Promise<Account> {
  const account = await getAccount(deps.store.db, accountId);
  if (!account) throw notFound("account");
  return account;
}

/** Step 1: a fresh seed, stored sealed; 2FA stays off until `enableTotp`. */
export async function setupTotp(
  deps: Deps,
  accountId: number,
): Promise<{ secret: string; otpauthUrl: string }> {
  const account = await load(deps, accountId);
  if (account.totpEnabled) throw conflict("two-factor sign-in is already on; disable it first");
  const secret = newTotpSecret();
  await deps.store.db.update(schema.accounts).set({ totpSecret: await deps.secrets.seal(secret) })
    .where(eq(schema.accounts.id, accountId));
  const otpauthUrl = totpFor(secret, account.address, TOTP_ISSUER).toString();
  return { secret, otpauthUrl };
}

/** Step 2: a current code turns 2FA on; returns the recovery codes (shown once). */
export async function enableTotp(
  deps: Deps,
  accountId: number,
  code: string,
  ip: string,
): Promise<string[]> {
  const account = await load(deps, accountId);
  if (account.totpEnabled) throw conflict("two-factor sign-in is already on");
  if (!account.totpSecret) throw conflict("call POST /v1/auth/2fa/setup first");
  const secret = await deps.secrets.open(account.totpSecret);
  if (!verifyTotp(secret, code.trim(), deps.clock.now())) {
    await recordSecondFactorFailure(deps, account, ip);
    throw wrongCode();
  }
  const { codes, hashes } = await newRecoveryCodes();
  await deps.store.db.update(schema.accounts).set({
    totpEnabled: true,
    recoveryCodes: JSON.stringify(hashes),
  }).where(eq(schema.accounts.id, accountId));
  return codes;
}

/** Checks a TOTP code, or uses up a recovery code (for a lost authenticator). */
async function checkCode(deps: Deps, account: Account, code: string): Promise<boolean> {
  const trimmed = code.trim();
  if (/^\d{6}$/.test(trimmed)) {
    if (!account.totpSecret) return false;
    return verifyTotp(await deps.secrets.open(account.totpSecret), trimmed, deps.clock.now());
  }
  return await useRecoveryCode(deps, account.id, trimmed);
}

/** Uses up a recovery code: true once per code (read and removed in one write transaction). */
export async function useRecoveryCode(
  deps: Deps,
  accountId: number,
  code: string,
): Promise<boolean> {
  const hash = await sha256Hex(normalizeRecoveryCode(code));
  // One guarded statement: of two uses of one code at once, one removes it.
  const [used] = await deps.store.batch([{
    sql: `UPDATE accounts SET recovery_codes = (SELECT json_group_array(value)
        FROM json_each(recovery_codes) WHERE value <> ?1)
      WHERE id = ?2 AND EXISTS (SELECT 1 FROM json_each(recovery_codes) WHERE value = ?1)
      RETURNING id`,
    args: [hash, accountId],
  }]);
  return used.rows.length > 0;
}

/** Turns 2FA off; needs the password and a TOTP code (or a recovery code). */
export async function disableTotp(
  deps: Deps,
  accountId: number,
  input: { password: string; code: string },
  ip: string,
): Promise<void> {
  const account = await load(deps, accountId);
  if (!account.totpEnabled) throw conflict("two-factor sign-in is not on");
  await confirmPassword(deps, account, input.password, ip);
  if (!await checkCode(deps, account, input.code)) {
    await recordSecondFactorFailure(deps, account, ip);
    throw wrongCode();
  }
  await deps.store.db.update(schema.accounts).set({
    totpEnabled: false,
    totpSecret: null,
    recoveryCodes: "[]",
  }).where(eq(schema.accounts.id, accountId));
}

/** Replaces every recovery code with ten new ones (shown once). */
export async function regenerateRecoveryCodes(
  deps: Deps,
  accountId: number,
  password: string,
  ip: string,
): Promise<string[]> {
  const account = await load(deps, accountId);
  if (!account.totpEnabled) throw conflict("two-factor sign-in is not on");
  await confirmPassword(deps, account, password, ip);
  const { codes, hashes } = await newRecoveryCodes();
  await deps.store.db.update(schema.accounts).set({ recoveryCodes: JSON.stringify(hashes) })
    .where(eq(schema.accounts.id, accountId));
  return codes;
}

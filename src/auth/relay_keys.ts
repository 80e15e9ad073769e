/**
 * SMTP relay with an API key as the password (as Resend, Postmark and SendGrid offer it): on
 * the submission ports, a password that is a live `pst_…` key with the `send` scope signs the
 * client in as the key's account, whatever the user name (`apikey`, `resend`, the address…).
 * The submission then runs with the key's rights — the domains it may send from — not the
 * account's session rights (a test key's submissions are recorded, never delivered), and stops
 * working the moment the key is revoked. Failed keys count
 * towards the same login throttle as passwords (per client address).
 */
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import type { AuthContext } from "./auth_context.ts";
import { API_KEY_PREFIX, liveApiKey } from "./authenticate.ts";
import { chargeAttempt, failed, giveBack } from "./throttle.ts";

/** Whether an SMTP password is to be taken as an API key. */
export const isApiKeySecret = (secret: string) =>
  secret.startsWith(API_KEY_PREFIX) && /^pst_[A-Za-z0-9_-]{20,200}$/.test(secret);

/** A live key's context when it may send (relay needs the `send` scope). */
const sending = (auth: AuthContext | undefined) => auth?.scopes.has("send") ? auth : undefined;

/** The key's context when `secret` is a live key with the send scope; undefined otherwise. */
export async function verifyRelayKey(
  deps: Deps,
  username: string,
  secret: string,
  ip: string,
): Promise<AuthContext | undefined> {
  const now = deps.clock.now();
  const found = await liveApiKey(deps.store.db, { keyHash: await sha256Hex(secret) });
  const auth = sending(found?.auth);
  // Charged after the lookup (a hash, not argon2: nothing to race for), keyed like a password:
  // on the key's account when a live key matched, else on the name as typed.
  const charge = await chargeAttempt(
    deps,
    { accountId: found?.auth.accountId, address: username, ip },
    now,
  );
  if (!auth) {
    failed(deps, charge);
    deps.logger.log("warn", "auth.relay_key_failed", { ip });
    return undefined;
  }
  await giveBack(deps.store, charge, true);
  return auth;
}

/**
 * The context a submission made with key `apiKeyId` runs under: refused (403) when the key was
 * revoked since the client signed in, lost the send scope, or is not the account's.
 */
export async function relayKeyContext(
  deps: Deps,
  apiKeyId: number,
  accountId: number,
): Promise<AuthContext> {
  const auth = sending((await liveApiKey(deps.store.db, { id: apiKeyId }))?.auth);
  if (!auth || auth.accountId !== accountId) {
    throw new AppError(
      403,
      "forbidden",
      "the API key used to sign in is revoked or not allowed to send",
    );
  }
  return auth;
}

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
import { rawSql } from "../store/store.ts";
import type { AuthContext, Scope } from "./auth_context.ts";
import { API_KEY_PREFIX } from "./authenticate.ts";
import { chargeAttempt, failed, giveBack } from "./throttle.ts";

/** Whether an SMTP password is to be taken as an API key. */
export const isApiKeySecret = (secret: string) =>
  secret.startsWith(API_KEY_PREFIX) && /^pst_[A-Za-z0-9_-]{20,200}$/.test(secret);

interface KeyRow {
  key_id: number;
  scopes: string;
  domains: string;
  test: number;
  account_id: number;
  address: string;
  domain_id: number;
  role: "user" | "admin";
  disabled: number;
}

const KEY_SQL = `SELECT k.id AS key_id, k.scopes, k.domains, k.test, a.id AS account_id, a.address,
    a.domain_id, a.role, a.disabled
  FROM api_keys k JOIN accounts a ON a.id = k.account_id
  WHERE k.key_hash = ? AND k.revoked_at IS NULL`;

function contextOf(row: KeyRow): AuthContext | undefined {
  if (Number(row.disabled)) return undefined;
  const scopes = JSON.parse(row.scopes) as Scope[];
  if (!scopes.includes("send")) return undefined;
  return {
    accountId: Number(row.account_id),
    address: row.address,
    domainId: Number(row.domain_id),
    role: row.role,
    kind: "api_key",
    scopes: new Set(scopes),
    apiKeyId: Number(row.key_id),
    sendDomains: JSON.parse(row.domains) as string[],
    testMode: Number(row.test) === 1,
  };
}

/** The key's context when `secret` is a live key with the send scope; undefined otherwise. */
export async function verifyRelayKey(
  deps: Deps,
  username: string,
  secret: string,
  ip: string,
): Promise<AuthContext | undefined> {
  const now = deps.clock.now();
  const row = await rawSql(deps.store.db).get<KeyRow>(KEY_SQL, [await sha256Hex(secret)]);
  const auth = row ? contextOf(row) : undefined;
  // Charged after the lookup (a hash, not argon2: nothing to race for), keyed like a password:
  // on the key's account when the key exists (revoked or not), else on the name as typed.
  const accountId = row ? Number(row.account_id) : undefined;
  const charge = await chargeAttempt(deps, { accountId, address: username, ip }, now);
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
  const row = await rawSql(deps.store.db).get<KeyRow>(
    KEY_SQL.replace("k.key_hash = ?", "k.id = ?"),
    [apiKeyId],
  );
  const auth = row ? contextOf(row) : undefined;
  if (!auth || auth.accountId !== accountId) {
    throw new AppError(
      403,
      "forbidden",
      "the API key used to sign in is revoked or not allowed to send",
    );
  }
  return auth;
}

/**
 * Who calls the JMAP endpoints. `Authorization: Bearer` takes what the REST API takes (an access
 * token, or an API key with its scopes); `Authorization: Basic` takes the account address with
 * an app password (or the password while 2FA is off), which is what JMAP mail clients send —
 * checked by the same `verifyAccountSecret` as IMAP and SMTP AUTH, with its throttle.
 *
 * Basic arrives on every request and argon2id costs tens of milliseconds, so a verified Basic
 * credential is remembered for a minute — but only together with a fingerprint of the account's
 * secrets (password hash, app password ids, 2FA, disabled), re-read on every use: a revoked app
 * password, a changed password or a disabled account, by any process, takes effect at once.
 */
import { and, eq } from "drizzle-orm";
import type { AuthContext } from "../auth/auth_context.ts";
import { verifyAccountSecret } from "../auth/app_passwords.ts";
import { authenticate } from "../auth/authenticate.ts";
import { sha256Hex } from "../crypto.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { schema } from "../store/store.ts";

const REMEMBER_MS = 60_000;
const MAX_REMEMBERED = 10_000;

const unauthorized = (message: string) =>
  new AppError(401, "unauthorized", message, undefined, {
    "WWW-Authenticate": 'Basic realm="postern", charset="UTF-8", Bearer',
  });

/** What must not have changed for a remembered Basic credential to stay valid. */
async function fingerprint(deps: Deps, accountId: number): Promise<string | undefined> {
  const db = deps.store.db;
  const [account] = await db.select({
    hash: schema.accounts.passwordHash,
    totp: schema.accounts.totpEnabled,
    disabled: schema.accounts.disabled,
  }).from(schema.accounts).where(eq(schema.accounts.id, accountId));
  if (!account || account.disabled) return undefined;
  const apps = await db.select({
    id: schema.appPasswords.id,
    hash: schema.appPasswords.passwordHash,
  })
    .from(schema.appPasswords).where(and(eq(schema.appPasswords.accountId, accountId)));
  return await sha256Hex(JSON.stringify([account.hash, account.totp, apps.map((a) => a.id)]));
}

export class JmapAuth {
  private readonly remembered = new Map<
    string,
    { auth: AuthContext; print: string; until: number }
  >();

  constructor(private readonly deps: Deps) {}

  async authenticate(header: string | undefined, ip: string): Promise<AuthContext> {
    if (header && /^Bearer\s/i.test(header)) return await authenticate(this.deps, header);
    const basic = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
    if (!basic) throw unauthorized("Basic (address and app password) or Bearer credentials");
    let decoded: string;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true }).decode(
        Uint8Array.from(atob(basic[1]), (c) => c.charCodeAt(0)),
      );
    } catch {
      throw unauthorized("the Basic credentials are malformed");
    }
    const colon = decoded.indexOf(":");
    if (colon <= 0) throw unauthorized("the Basic credentials are malformed");
    const key = await sha256Hex(header!);
    const now = this.deps.clock.now();
    const hit = this.remembered.get(key);
    if (hit && hit.until > now && hit.print === await fingerprint(this.deps, hit.auth.accountId)) {
      return hit.auth;
    }
    this.remembered.delete(key);
    const account = await verifyAccountSecret(
      this.deps,
      decoded.slice(0, colon),
      decoded.slice(colon + 1),
      { ip },
    );
    if (!account) throw unauthorized("wrong address or app password");
    const auth: AuthContext = {
      accountId: account.id,
      address: account.address,
      domainId: account.domainId,
      role: account.role,
      // A mail client's login: mail only, as an IMAP session is (no admin, no credentials).
      kind: "mail_session",
      scopes: new Set(["read", "send"]),
    };
    const print = await fingerprint(this.deps, account.id);
    if (print) {
      if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
      this.remembered.set(key, { auth, print, until: now + REMEMBER_MS });
    }
    return auth;
  }
}

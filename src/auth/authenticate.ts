/**
 * Resolves the bearer credential of a request: an access JWT (whose session must still be live)
 * or an API key (`pst_…`, looked up by its SHA-256). Anything else is 401.
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import type { AppEnv } from "../http/router.ts";
import { type Db, readCaches, schema } from "../store/store.ts";
import { type AuthContext, type Scope, SCOPES } from "./auth_context.ts";
import { verifyAccessTokenCached } from "./tokens.ts";
import type { VerifiedApiKey } from "../store/read_cache.ts";

export const API_KEY_PREFIX = "pst_";

const unauthorized = (message: string) =>
  new AppError(401, "unauthorized", message, undefined, { "WWW-Authenticate": "Bearer" });

/** Records a key's use at most once a minute, so a busy key does not cost a write per request. */
async function recordUse(db: Db, keyId: number, lastUsedAt: number, now: number): Promise<number> {
  if (lastUsedAt >= now - 60_000) return lastUsedAt;
  await db.update(schema.apiKeys).set({ lastUsedAt: now }).where(eq(schema.apiKeys.id, keyId));
  return now;
}

/** The live key of that hash with its account's context; null when unknown, revoked or disabled. */
async function liveApiKey(db: Db, keyHash: string): Promise<VerifiedApiKey<AuthContext> | null> {
  const [row] = await db.select({ key: schema.apiKeys, account: schema.accounts })
    .from(schema.apiKeys)
    .innerJoin(schema.accounts, eq(schema.accounts.id, schema.apiKeys.accountId))
    .where(and(eq(schema.apiKeys.keyHash, keyHash), isNull(schema.apiKeys.revokedAt)));
  if (!row || row.account.disabled) return null;
  const scopes = (JSON.parse(row.key.scopes) as string[]).filter((s): s is Scope =>
    SCOPES.includes(s as Scope)
  );
  const auth: AuthContext = {
    accountId: row.account.id,
    address: row.account.address,
    domainId: row.account.domainId,
    role: row.account.role,
    kind: "api_key",
    scopes: new Set(scopes),
    apiKeyId: row.key.id,
    sendDomains: JSON.parse(row.key.domains) as string[],
    testMode: row.key.test,
  };
  return { auth, lastUsedAt: row.key.lastUsedAt ?? 0 };
}

export async function authenticate(deps: Deps, header: string | undefined): Promise<AuthContext> {
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  if (!match) throw unauthorized("a bearer token (access token or API key) is required");
  const token = match[1];
  const { db } = deps.store;
  const now = deps.clock.now();

  if (token.startsWith(API_KEY_PREFIX)) {
    // Remembered (store/read_cache.ts) until keys or accounts change, here or in any process.
    const keyHash = await sha256Hex(token);
    const verified = await readCaches(db).apiKeys.get(
      keyHash,
      () => liveApiKey(db, keyHash),
      (found) => found !== null,
    ) as VerifiedApiKey<AuthContext> | null;
    if (!verified) throw unauthorized("the API key is unknown or revoked");
    verified.lastUsedAt = await recordUse(db, verified.auth.apiKeyId!, verified.lastUsedAt, now);
    return verified.auth;
  }

  const claims = await verifyAccessTokenCached(deps.jwtKey, deps.config.hostname, token, now);
  const [row] = await db.select({ account: schema.accounts, session: schema.sessions })
    .from(schema.sessions)
    .innerJoin(schema.accounts, eq(schema.accounts.id, schema.sessions.accountId))
    .where(and(
      eq(schema.sessions.id, claims.sessionId),
      eq(schema.sessions.accountId, claims.accountId),
      isNull(schema.sessions.revokedAt),
      gt(schema.sessions.expiresAt, now),
    ));
  if (!row || row.account.disabled) {
    throw new AppError(401, "token_invalid", "the session has ended; sign in again");
  }
  // A bridge's IMAP/POP3 session reads and sends mail for its account, nothing more: it can
  // neither administer (even for an admin) nor manage credentials (requireSession refuses it).
  const scopes: Scope[] = row.account.role === "admin" && !claims.mail
    ? ["read", "send", "admin"]
    : ["read", "send"];
  return {
    accountId: row.account.id,
    address: row.account.address,
    domainId: row.account.domainId,
    role: row.account.role,
    kind: claims.mail ? "mail_session" : "session",
    scopes: new Set(scopes),
    sessionId: row.session.id,
  };
}

/**
 * Middleware: every route behind it has `c.get("auth")`. Once per request, however many route
 * groups' middleware match the path (`/v1/domains/*` has two).
 */
export function requireAuth(deps: Deps) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (!c.get("auth")) c.set("auth", await authenticate(deps, c.req.header("authorization")));
    await next();
  });
}

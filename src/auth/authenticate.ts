/**
 * Resolves the bearer credential of a request: an access JWT (whose session must still be live)
 * or an API key (`pst_…`, looked up by its SHA-256). Anything else is 401.
 *
 * Routes whose work ends in one write job may ask for optimistic reads (`requireAuth(deps,
 * { optimistic: true })`, store/read_scope.ts): the session or key then comes from a cache, and
 * the job re-checks in SQL that it is still live, so a send costs no round trip for its sign-in;
 * `withReads` runs the work once more with fresh reads when the check fails (a session revoked
 * in another process is refused then, with 401).
 */
import { and, eq, gt, isNull } from "drizzle-orm";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import type { AppEnv } from "../http/router.ts";
import { counterBump, type Db, readCaches, schema } from "../store/store.ts";
import { ReadScope, remember, scopeOf, StaleReads } from "../store/read_scope.ts";
import { type AuthContext, type Scope, SCOPES } from "./auth_context.ts";
import { verifyAccessTokenCached } from "./tokens.ts";
import type { VerifiedApiKey } from "../store/read_cache.ts";

export const API_KEY_PREFIX = "pst_";

const unauthorized = (message: string) =>
  new AppError(401, "unauthorized", message, undefined, { "WWW-Authenticate": "Bearer" });

/** The last-used stamp: a counter bump (no cached row changes, store.ts `counterBump`). */
const LAST_USED_SQL = counterBump("UPDATE api_keys SET last_used_at = ? WHERE id = ?");

/**
 * Records a key's use at most once a minute, so a busy key does not cost a write per request;
 * in a scoped request the stamp rides in the request's write job.
 */
async function recordUse(db: Db, keyId: number, lastUsedAt: number, now: number): Promise<number> {
  if (lastUsedAt >= now - 60_000) return lastUsedAt;
  const scope = scopeOf(db);
  if (scope) scope.alsoWrite({ sql: LAST_USED_SQL, args: [now, keyId] });
  else await db.update(schema.apiKeys).set({ lastUsedAt: now }).where(eq(schema.apiKeys.id, keyId));
  return now;
}

/** The live key of that hash with its account's context; null when unknown, revoked or disabled. */
/**
 * The live key (by its hash, or by id) with its account's context; null when unknown, revoked
 * or disabled. Also what SMTP relay with a key (auth/relay_keys.ts) signs in with.
 */
export async function liveApiKey(
  db: Db,
  by: { keyHash: string } | { id: number },
): Promise<VerifiedApiKey<AuthContext> | null> {
  const which = "keyHash" in by
    ? eq(schema.apiKeys.keyHash, by.keyHash)
    : eq(schema.apiKeys.id, by.id);
  const [row] = await db.select({ key: schema.apiKeys, account: schema.accounts })
    .from(schema.apiKeys)
    .innerJoin(schema.accounts, eq(schema.accounts.id, schema.apiKeys.accountId))
    .where(and(which, isNull(schema.apiKeys.revokedAt)));
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
      () => liveApiKey(db, { keyHash }),
      (found) => found !== null,
    ) as VerifiedApiKey<AuthContext> | null;
    if (!verified) throw unauthorized("the API key is unknown or revoked");
    verified.lastUsedAt = await recordUse(db, verified.auth.apiKeyId!, verified.lastUsedAt, now);
    return verified.auth;
  }

  const claims = await verifyAccessTokenCached(deps.jwtKey, deps.config.hostname, token, now);
  const live = await remember(
    db,
    `session ${claims.sessionId}`,
    () => liveSession(db, claims.sessionId, claims.accountId, now),
    (found) =>
      found && {
        condition: "EXISTS (SELECT 1 FROM sessions WHERE id = ? AND account_id = ? " +
          "AND revoked_at IS NULL AND expires_at > ?)",
        args: [claims.sessionId, claims.accountId, now],
      },
    (found) => found !== null,
  );
  if (!live || live.expiresAt <= now) {
    throw new AppError(401, "token_invalid", "the session has ended; sign in again");
  }
  const { account } = live;
  // A bridge's IMAP/POP3 session reads and sends mail for its account, nothing more: it can
  // neither administer (even for an admin) nor manage credentials (requireSession refuses it).
  const scopes: Scope[] = account.role === "admin" && !claims.mail
    ? ["read", "send", "admin"]
    : ["read", "send"];
  return {
    accountId: account.id,
    address: account.address,
    domainId: account.domainId,
    role: account.role,
    kind: claims.mail ? "mail_session" : "session",
    scopes: new Set(scopes),
    sessionId: claims.sessionId,
  };
}

/** A live session's account (what the auth context needs) and its end; null when none. */
async function liveSession(db: Db, sessionId: string, accountId: number, now: number) {
  const [row] = await db.select({
    account: {
      id: schema.accounts.id,
      address: schema.accounts.address,
      domainId: schema.accounts.domainId,
      role: schema.accounts.role,
      disabled: schema.accounts.disabled,
    },
    expiresAt: schema.sessions.expiresAt,
  })
    .from(schema.sessions)
    .innerJoin(schema.accounts, eq(schema.accounts.id, schema.sessions.accountId))
    .where(and(
      eq(schema.sessions.id, sessionId),
      eq(schema.sessions.accountId, accountId),
      isNull(schema.sessions.revokedAt),
      gt(schema.sessions.expiresAt, now),
    ));
  return row && !row.account.disabled ? row : null;
}

export interface RequireAuthOptions {
  /**
   * Optimistic reads for this request (store/read_scope.ts) where the store offers them; the
   * handler runs its work through `withReads`. A function decides per request (by method, say).
   */
  optimistic?: boolean | ((c: Context<AppEnv>) => boolean);
}

/**
 * Middleware: every route behind it has `c.get("auth")`. Once per request, however many route
 * groups' middleware match the path (`/v1/domains/*` has two).
 */
export function requireAuth(deps: Deps, options: RequireAuthOptions = {}) {
  const { optimistic } = options;
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.get("auth")) return await next();
    const wanted = typeof optimistic === "function" ? optimistic(c) : optimistic;
    if (!wanted || !deps.store.optimisticReads) {
      c.set("auth", await authenticate(deps, c.req.header("authorization")));
      return await next();
    }
    const scope = new ReadScope(deps.store);
    c.set("auth", await authenticate(scope.deps(deps), c.req.header("authorization")));
    c.set("reads", scope);
    await next();
    await settleLeftOpen(scope, deps, c.req.header("authorization"));
  });
}

/**
 * A handler that answered without `withReads` settling its reads: check them now, before the
 * answer leaves, so that nothing a stale credential read is shown.
 */
async function settleLeftOpen(scope: ReadScope, deps: Deps, header: string | undefined) {
  if (scope.settled) return;
  try {
    await scope.settle();
  } catch (e) {
    if (!(e instanceof StaleReads)) throw e;
    deps.store.forgetReads();
    // A credential that has ended answers 401 as it would have; anything else that moved
    // may have decided the answer, so the client is asked to try again.
    await authenticate(deps, header);
    throw new AppError(409, "conflict", "the store changed while answering; try again");
  }
}

/**
 * Runs a route's work on the request's optimistic reads (when it has them), settles them, and
 * when they turn out stale runs it once more with fresh reads and a fresh sign-in: `run` gets
 * the deps and the credential to use, and must check scopes itself.
 */
export async function withReads<T>(
  c: Context<AppEnv>,
  deps: Deps,
  run: (deps: Deps, auth: AuthContext) => Promise<T>,
): Promise<T> {
  const scope = c.get("reads");
  if (!scope) return await run(deps, c.get("auth"));
  return await onReads(scope, deps, c.get("auth"), async () => {
    const auth = await authenticate(deps, c.req.header("authorization"));
    c.set("auth", auth);
    return auth;
  }, run);
}

/** A request's sign-in without Hono (see `signIn`). */
export interface SignedIn {
  auth: AuthContext;
  /** `withReads` for this sign-in. */
  reads<T>(run: (deps: Deps, auth: AuthContext) => Promise<T>): Promise<T>;
  /** What `requireAuth` does once the handler has answered: settles reads left open. */
  done(): Promise<void>;
}

/**
 * `requireAuth(deps, { optimistic: true })` without a request, for a gateway called in-process
 * (routes/bridge_direct.ts): `header` is the Authorization value; call `done()` before answering.
 * The same steps as the middleware, so that both entries sign in alike.
 */
export async function signIn(
  deps: Deps,
  header: string,
  optimistic: boolean,
): Promise<SignedIn> {
  if (!optimistic || !deps.store.optimisticReads) {
    const auth = await authenticate(deps, header);
    return { auth, reads: (run) => run(deps, auth), done: () => Promise.resolve() };
  }
  const scope = new ReadScope(deps.store);
  const auth = await authenticate(scope.deps(deps), header);
  return {
    auth,
    reads: (run) => onReads(scope, deps, auth, () => authenticate(deps, header), run),
    done: () => settleLeftOpen(scope, deps, header),
  };
}

/** Runs `run` on `scope`'s reads, settles them, and runs it afresh when they were stale. */
async function onReads<T>(
  scope: ReadScope,
  deps: Deps,
  auth: AuthContext,
  signInAgain: () => Promise<AuthContext>,
  run: (deps: Deps, auth: AuthContext) => Promise<T>,
): Promise<T> {
  const fresh = async () => {
    scope.abandon();
    deps.store.forgetReads();
    return await run(deps, await signInAgain());
  };
  try {
    const value = await run(scope.deps(deps), auth);
    await scope.settle();
    return value;
  } catch (e) {
    if (!(e instanceof StaleReads)) {
      // A refusal is answered only if what it was decided on still holds.
      try {
        await scope.settle();
      } catch (stale) {
        if (!(stale instanceof StaleReads)) throw stale;
        return await fresh();
      }
      throw e;
    }
    return await fresh();
  }
}

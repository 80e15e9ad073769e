/**
 * Sessions the protocol bridge opens for an account after checking its IMAP or POP3 credential:
 * a real session row (user agent = the protocol) with the normal access-token claims, so the
 * bridge then calls the account-scoped API with the account's own token and the gateway applies
 * exactly the isolation it applies to any client. The access token lives long enough for a mail
 * session (at least an hour); the refresh token renews it (`POST /v1/auth/refresh`), logout ends it.
 */
import { signAccessToken } from "../auth/tokens.ts";
import { randomToken } from "../crypto.ts";
import type { Deps } from "../deps.ts";
import type { Statement } from "../store/store.ts";
import { sessionRowStatement } from "../auth/session_row.ts";

/**
 * The user agent of the session rows this module opens starts with this: refreshing such a
 * session keeps the mail-only claim (sessions.ts). A browser that sends it merely loses rights.
 */
export const MAIL_SESSION_AGENT = "bridge:";

/** Shortest lifetime of a bridge session's access token (a POP3 or IMAP session can be long). */
export const MAIL_SESSION_TOKEN_SECONDS = 3600;

export interface MailSessionTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/**
 * A mail session in two halves: the session row's INSERT, for the caller to commit in a write
 * job of its own (the credential check's, routes/bridge.ts: a login costs one durable write, not
 * two), and the tokens, valid once that job has committed.
 */
export async function prepareMailSession(
  deps: Deps,
  accountId: number,
  protocol: string,
  ip: string,
): Promise<{ statement: Statement; tokens: MailSessionTokens }> {
  const now = deps.clock.now();
  const refreshToken = randomToken();
  const sessionId = crypto.randomUUID();
  const statement = await sessionRowStatement(deps, {
    id: sessionId,
    accountId,
    refreshToken,
    userAgent: `${MAIL_SESSION_AGENT}${protocol}`,
    ip: ip.slice(0, 64),
  }, now);
  const ttl = Math.max(deps.config.accessTokenTtlSeconds, MAIL_SESSION_TOKEN_SECONDS);
  const accessToken = await signAccessToken(
    deps.jwtKey,
    deps.config.hostname,
    { accountId, sessionId, mail: true },
    ttl,
    now,
  );
  deps.logger.log("info", "auth.bridge_session", { accountId, protocol });
  return { statement, tokens: { accessToken, refreshToken, expiresIn: ttl } };
}

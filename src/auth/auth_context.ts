/**
 * Who is calling: resolved once per request from the bearer token (an access JWT or an API key)
 * and checked against the scope a route needs.
 */
import { AppError } from "../errors.ts";

/** `bridge` is for the protocol bridge process: it may check credentials and hand in mail for
 * any account, so only administrators may create keys with it. `metrics` reads `/metrics` (a
 * Prometheus scraper's key): server-wide figures, so it is an administrator's scope too. */
export type Scope = "read" | "send" | "admin" | "bridge" | "metrics";
export const SCOPES: readonly Scope[] = ["read", "send", "admin", "bridge", "metrics"];
/** Scopes that reach the whole server: only site administrators hold them. */
const SERVER_SCOPES: ReadonlySet<Scope> = new Set(["admin", "bridge", "metrics"]);

export interface AuthContext {
  accountId: number;
  address: string;
  domainId: number;
  role: "user" | "admin";
  /** `mail_session`: opened by the bridge after an IMAP/POP3 login; mail routes only. */
  kind: "session" | "api_key" | "mail_session";
  scopes: ReadonlySet<Scope>;
  sessionId?: string;
  apiKeyId?: number;
  /** Domains an API key may send from; empty means the account's own addresses. */
  sendDomains?: readonly string[];
  /** Made with a test API key: sends are validated and recorded, never delivered. */
  testMode?: boolean;
}

export function requireScope(auth: AuthContext, scope: Scope): void {
  if (!auth.scopes.has(scope)) {
    throw new AppError(403, "insufficient_scope", `this credential lacks the "${scope}" scope`);
  }
  if (SERVER_SCOPES.has(scope) && auth.role !== "admin") {
    throw new AppError(403, "forbidden", "administrators only");
  }
}

export function requireSession(auth: AuthContext): void {
  if (auth.kind !== "session") {
    throw new AppError(403, "forbidden", "this action needs a signed-in session, not an API key");
  }
}

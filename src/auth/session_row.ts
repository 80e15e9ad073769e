/**
 * The INSERT that opens a sign-in session row, for the caller to commit inside its own write job
 * (the credential check's: one durable write per sign-in). Shared by web/API sign-in
 * (auth/sessions.ts) and the bridge's IMAP/POP3 sessions (services/mail_access_session.ts); the
 * refresh token is stored only as its SHA-256.
 */
import type { Deps } from "../deps.ts";
import { sha256Hex } from "../crypto.ts";
import type { Statement } from "../store/store.ts";

export async function sessionRowStatement(
  deps: Deps,
  row: { id: string; accountId: number; refreshToken: string; userAgent: string; ip: string },
  now: number,
): Promise<Statement> {
  return {
    sql: "INSERT INTO sessions (id, account_id, refresh_hash, expires_at, user_agent, ip) " +
      "VALUES (?, ?, ?, ?, ?, ?)",
    args: [
      row.id,
      row.accountId,
      await sha256Hex(row.refreshToken),
      now + deps.config.refreshTokenTtlDays * 86_400_000,
      row.userAgent.slice(0, 200),
      row.ip,
    ],
  };
}

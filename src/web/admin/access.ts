/**
 * Who may open the admin console page: the account behind the page request's refresh cookie
 * (src/web/shell/session.ts), when it is an administrator or administers some domain. This only
 * decides whether the console's page is served (a redirect to sign-in, the console, or 403); the
 * console's data comes from the JSON API with a bearer token, which checks every request again.
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { and, count, eq, gt, isNull } from "drizzle-orm";
import { sha256Hex } from "../../crypto.ts";
import type { Deps } from "../../deps.ts";
import { schema } from "../../store/store.ts";
import { REFRESH_COOKIE } from "../shell/session.ts";

export type ConsoleAccess =
  | { kind: "signed_out" }
  | { kind: "refused"; address: string }
  | { kind: "site" | "domain"; address: string };

export async function consoleAccess(deps: Deps, c: Context): Promise<ConsoleAccess> {
  const token = getCookie(c, REFRESH_COOKIE);
  if (!token || token.length > 512) return { kind: "signed_out" };
  const [row] = await deps.store.db.select({ account: schema.accounts })
    .from(schema.sessions)
    .innerJoin(schema.accounts, eq(schema.accounts.id, schema.sessions.accountId))
    .where(and(
      eq(schema.sessions.refreshHash, await sha256Hex(token)),
      isNull(schema.sessions.revokedAt),
      gt(schema.sessions.expiresAt, deps.clock.now()),
    ));
  if (!row || row.account.disabled) return { kind: "signed_out" };
  const address = row.account.address;
  if (row.account.role === "admin") return { kind: "site", address };
  const [roles] = await deps.store.db.select({ n: count() }).from(schema.accountDomainRoles)
    .where(eq(schema.accountDomainRoles.accountId, row.account.id));
  return roles.n > 0 ? { kind: "domain", address } : { kind: "refused", address };
}

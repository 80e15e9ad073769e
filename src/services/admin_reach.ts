/**
 * How far a caller's administration reaches: a server administrator (admin role with the `admin`
 * scope) reaches every domain; a domain administrator (services/domain_roles.ts) the domains it
 * administers; anyone else nothing (403). An API key reaches as its owner only with the `admin`
 * scope, and only within the domains it is restricted to; a bridge's IMAP/POP3 session never
 * does — the rule of transactional/domains.ts `assertDomainAccess`, for lists (domains, queue,
 * statistics) rather than one named domain. Read per request, so a revoked role ends at once.
 */
import { eq } from "drizzle-orm";
import type { AuthContext } from "../auth/auth_context.ts";
import { AppError } from "../errors.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";

export type Reach =
  | { all: true }
  | { all: false; domains: { id: number; name: string }[] };

export const reachIds = (reach: Reach) => reach.all ? undefined : reach.domains.map((d) => d.id);

export async function adminReach(db: Queryable, auth: AuthContext): Promise<Reach> {
  const credentialMay = auth.kind === "session" ||
    (auth.kind === "api_key" && auth.scopes.has("admin"));
  if (!credentialMay) {
    throw new AppError(403, "domain_admin_required", "this credential cannot administer domains");
  }
  const restricted = auth.kind === "api_key" && auth.sendDomains?.length
    ? new Set(auth.sendDomains)
    : undefined;
  if (auth.role === "admin" && !restricted) return { all: true };
  const rows = auth.role === "admin"
    ? await db.select({ id: schema.domains.id, name: schema.domains.name }).from(schema.domains)
    : await db.select({ id: schema.domains.id, name: schema.domains.name })
      .from(schema.accountDomainRoles)
      .innerJoin(schema.domains, eq(schema.domains.id, schema.accountDomainRoles.domainId))
      .where(eq(schema.accountDomainRoles.accountId, auth.accountId));
  const domains = rows.filter((d) => !restricted || restricted.has(d.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  if (domains.length === 0) {
    throw new AppError(
      403,
      "domain_admin_required",
      "administrators and domain administrators only",
    );
  }
  return { all: false, domains };
}

/** Refuses what needs the whole server (creating domains, the audit log) to domain admins. */
export function requireSiteAdmin(reach: Reach): void {
  if (!reach.all) throw new AppError(403, "forbidden", "server administrators only");
}

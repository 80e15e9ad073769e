/**
 * A local domain's shared sending settings (tracking defaults, VERP) and who may manage them and
 * its suppression list: every account of the domain sends through them, so only a server
 * administrator or an administrator of that domain (services/domain_roles.ts) may read or change
 * them. Plain users keep sending; the list still applies to their mail.
 */
import { eq } from "drizzle-orm";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { findDomain } from "../services/accounts.ts";
import { isDomainAdmin } from "../services/domain_roles.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";

/**
 * The lower-cased domain when the caller administers it; 404 for a domain that is not local,
 * 403 `domain_admin_required` otherwise. An API key acts as its owner's administrator role
 * only with the `admin` scope, and only within the domains it is restricted to (if any); a
 * bridge's IMAP/POP3 session never does.
 */
export async function assertDomainAccess(
  db: Queryable,
  auth: AuthContext,
  domain: string,
): Promise<string> {
  const name = domain.toLowerCase();
  const found = await findDomain(db, name);
  if (!found) throw notFound(`local domain ${name}`);
  const credentialMay = auth.kind === "session" ||
    (auth.kind === "api_key" && auth.scopes.has("admin") &&
      (!auth.sendDomains?.length || auth.sendDomains.includes(name)));
  if (
    credentialMay &&
    (auth.role === "admin" || await isDomainAdmin(db, auth.accountId, found.id))
  ) return name;
  throw new AppError(
    403,
    "domain_admin_required",
    `managing ${name} needs the admin role or the domain administrator role of ${name}`,
  );
}

export async function domainSettings(db: Queryable, domain: string) {
  const [row] = await db.select().from(schema.txDomainSettings)
    .where(eq(schema.txDomainSettings.domain, domain));
  return {
    domain,
    trackOpens: row?.trackOpens ?? false,
    trackClicks: row?.trackClicks ?? false,
    verp: row?.verp ?? false,
  };
}

export async function updateDomainSettings(
  deps: Deps,
  domain: string,
  input: { trackOpens?: boolean; trackClicks?: boolean; verp?: boolean },
) {
  const current = await domainSettings(deps.store.db, domain);
  const next = {
    ...current,
    ...Object.fromEntries(
      Object.entries(input).filter(([, v]) => v !== undefined),
    ),
  };
  await deps.store.db.insert(schema.txDomainSettings).values({
    ...next,
    updatedAt: deps.clock.now(),
  }).onConflictDoUpdate({
    target: schema.txDomainSettings.domain,
    set: {
      trackOpens: next.trackOpens,
      trackClicks: next.trackClicks,
      verp: next.verp,
      updatedAt: deps.clock.now(),
    },
  });
  return next;
}

/**
 * Who may manage a sending domain's suppression list and settings: administrators, API keys
 * restricted to that domain, and accounts of the domain itself.
 */
import { eq } from "drizzle-orm";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { forbidden, notFound } from "../errors.ts";
import { findDomain } from "../services/accounts.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";

export async function assertDomainAccess(
  db: Queryable,
  auth: AuthContext,
  domain: string,
): Promise<string> {
  const name = domain.toLowerCase();
  const found = await findDomain(db, name);
  if (!found) throw notFound(`local domain ${name}`);
  if (auth.role === "admin" && auth.scopes.has("admin")) return name;
  if (auth.sendDomains && auth.sendDomains.length > 0) {
    if (auth.sendDomains.includes(name)) return name;
  } else if (found.id === auth.domainId) return name;
  throw forbidden(`this credential may not manage ${name}`);
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

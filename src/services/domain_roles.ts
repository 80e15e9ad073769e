/**
 * Domain administrators: accounts that manage the shared settings of some local domains (the
 * suppression list, tracking defaults, VERP) without administering the server. Every account of
 * a domain sends through these settings, so changing them is not a plain user's right; the
 * server administrator grants the role per domain, the way Stalwart and Postal scope a tenant's
 * or organisation's administrators to their own domains.
 */
import { and, eq } from "drizzle-orm";
import type { FieldError } from "../../schemas/problem.ts";
import { AppError } from "../errors.ts";
import type { Queryable, Tx } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { inList } from "../store/in_list.ts";
import { insertInSlices } from "../store/appends.ts";

const r = schema.accountDomainRoles;

/** Names of the domains each account administers, sorted; every id given has an entry. */
export async function adminDomainsOf(
  db: Queryable,
  accountIds: readonly number[],
): Promise<Map<number, string[]>> {
  const out = new Map(accountIds.map((id) => [id, [] as string[]]));
  if (accountIds.length === 0) return out;
  const rows = await db.select({ accountId: r.accountId, name: schema.domains.name }).from(r)
    .innerJoin(schema.domains, eq(schema.domains.id, r.domainId))
    .where(inList(r.accountId, [...accountIds]))
    .orderBy(schema.domains.name);
  for (const row of rows) out.get(row.accountId)?.push(row.name);
  return out;
}

/** Whether the account administers the domain. Read per request, so a revoked role ends at once. */
export async function isDomainAdmin(
  db: Queryable,
  accountId: number,
  domainId: number,
): Promise<boolean> {
  const [row] = await db.select({ id: r.domainId }).from(r)
    .where(and(eq(r.accountId, accountId), eq(r.domainId, domainId)));
  return row !== undefined;
}

/**
 * The ids of the named local domains (lower-cased, duplicates dropped); 422 naming each one that
 * is not a local domain. Called before a write, so a bad name changes nothing.
 */
export async function resolveAdminDomains(
  db: Queryable,
  names: readonly string[],
): Promise<{ names: string[]; ids: number[] }> {
  const wanted = [...new Set(names.map((n) => n.trim().toLowerCase()))];
  const rows = wanted.length
    ? await db.select({ id: schema.domains.id, name: schema.domains.name }).from(schema.domains)
      .where(inList(schema.domains.name, wanted))
    : [];
  const byName = new Map(rows.map((d) => [d.name, d.id]));
  const fields: FieldError[] = wanted.flatMap((name, i) =>
    byName.has(name)
      ? []
      : [{ path: `adminDomains.${i}`, message: `${name} is not a local domain` }]
  );
  if (fields.length) {
    throw new AppError(422, "validation_failed", fields.map((f) => f.message).join("; "), fields);
  }
  return { names: wanted.sort(), ids: wanted.map((n) => byName.get(n)!) };
}

/** Makes `domainIds` the exact set of domains the account administers (inside the caller's write). */
export async function writeAdminDomains(
  tx: Tx,
  accountId: number,
  domainIds: readonly number[],
): Promise<void> {
  await tx.delete(r).where(eq(r.accountId, accountId));
  if (domainIds.length) {
    const rows = domainIds.map((domainId) => ({ accountId, domainId }));
    await insertInSlices(rows, (slice) => tx.insert(r).values(slice)); // D1: 100 parameters
  }
}

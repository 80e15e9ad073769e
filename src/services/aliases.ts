/**
 * Aliases and catch-alls: the recipient-lookup step of the routing pipeline that comes after
 * accounts. An alias is an address in a local domain that is not an account and forwards to one
 * or more targets (local accounts or remote addresses, RFC 5321 mailboxes). A domain's catch-all
 * names the local account that receives mail for unknown local parts.
 */
import { eq } from "drizzle-orm";
import { parseAddress } from "../../schemas/address.ts";
import type { FieldError } from "../../schemas/problem.ts";
import { AppError, notFound } from "../errors.ts";
import type { Queryable, Store } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { addressKey, type Domain, findAccountByAddress, findDomain } from "./accounts.ts";

export type AliasRow = typeof schema.aliases.$inferSelect;

export interface AliasView {
  id: number;
  address: string;
  domainId: number;
  targets: string[];
  createdAt: number;
}

export const MAX_ALIAS_TARGETS = 100;

export function aliasView(row: AliasRow): AliasView {
  return {
    id: row.id,
    address: row.address,
    domainId: row.domainId,
    targets: JSON.parse(row.targets) as string[],
    createdAt: row.createdAt,
  };
}

const invalid = (fields: FieldError[]) =>
  new AppError(422, "validation_failed", fields.map((f) => f.message).join("; "), fields);

export async function listAliases(db: Queryable, domainId?: number): Promise<AliasView[]> {
  const rows = await db.select().from(schema.aliases)
    .where(domainId ? eq(schema.aliases.domainId, domainId) : undefined)
    .orderBy(schema.aliases.addressKey);
  return rows.map(aliasView);
}

export async function findAlias(db: Queryable, address: string): Promise<AliasRow | undefined> {
  const parsed = parseAddress(address);
  if (!parsed.ok) return undefined;
  const [row] = await db.select().from(schema.aliases).where(
    eq(schema.aliases.addressKey, addressKey(parsed.value.address)),
  );
  return row;
}

/** Creates an alias; every invalid field is reported at once. */
export async function createAlias(
  store: Store,
  input: { address: string; targets: string[] },
): Promise<AliasView> {
  const fields: FieldError[] = [];
  const parsed = parseAddress(input.address);
  if (!parsed.ok) fields.push({ path: "address", message: `invalid address: ${parsed.error}` });
  const targets: string[] = [];
  if (input.targets.length === 0) {
    fields.push({ path: "targets", message: "at least one target is needed" });
  }
  if (input.targets.length > MAX_ALIAS_TARGETS) {
    fields.push({ path: "targets", message: `at most ${MAX_ALIAS_TARGETS} targets` });
  }
  input.targets.forEach((t, i) => {
    const target = parseAddress(t);
    if (!target.ok) {
      fields.push({ path: `targets.${i}`, message: `invalid address: ${target.error}` });
    } else if (parsed.ok && addressKey(target.value.address) === addressKey(parsed.value.address)) {
      fields.push({ path: `targets.${i}`, message: "an alias cannot point at itself" });
    } else if (!targets.some((x) => addressKey(x) === addressKey(target.value.address))) {
      targets.push(target.value.address);
    }
  });
  if (fields.length || !parsed.ok) throw invalid(fields);
  const { address, domain } = parsed.value;
  return await store.write(async (tx) => {
    const dom = await findDomain(tx, domain);
    if (!dom) throw invalid([{ path: "address", message: `${domain} is not a local domain` }]);
    if (await findAccountByAddress(tx, address)) {
      throw new AppError(409, "already_exists", `${address} is already an account`);
    }
    if (await findAlias(tx, address)) {
      throw new AppError(409, "already_exists", `alias ${address} already exists`);
    }
    const [row] = await tx.insert(schema.aliases).values({
      domainId: dom.id,
      address,
      addressKey: addressKey(address),
      targets: JSON.stringify(targets),
    }).returning();
    return aliasView(row);
  });
}

export async function deleteAlias(store: Store, id: number): Promise<AliasView> {
  const [row] = await store.db.delete(schema.aliases).where(eq(schema.aliases.id, id)).returning();
  if (!row) throw notFound("alias");
  return aliasView(row);
}

/**
 * Sets (or clears, with null) the account that receives a domain's mail for unknown local
 * parts. The catch-all must be a local account, since mail has to land in a mailbox.
 */
export async function setCatchAll(
  store: Store,
  domainId: number,
  catchAllAddress: string | null,
): Promise<Domain> {
  return await store.write(async (tx) => {
    const [dom] = await tx.select().from(schema.domains).where(eq(schema.domains.id, domainId));
    if (!dom) throw notFound("domain");
    let catchAllAccountId: number | null = null;
    if (catchAllAddress !== null) {
      const account = await findAccountByAddress(tx, catchAllAddress);
      if (!account) {
        throw invalid([{
          path: "catchAllAddress",
          message: `${catchAllAddress} is not a local account`,
        }]);
      }
      catchAllAccountId = account.id;
    }
    const [row] = await tx.update(schema.domains).set({ catchAllAccountId })
      .where(eq(schema.domains.id, domainId)).returning();
    return row;
  });
}

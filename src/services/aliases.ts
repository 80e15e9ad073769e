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
import { assertStep, isFailedAssertion, schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import { addressKey, type Domain, findAccountByAddress, findDomain } from "./accounts.ts";

const aliasesSql = tableSql(schema.aliases);
const domainsSql = tableSql(schema.domains);

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
  // Reads first, then one write job: its first step re-checks that no account took the address
  // meanwhile, and the unique key stops a second alias of it.
  const dom = await findDomain(store.db, domain);
  if (!dom) throw invalid([{ path: "address", message: `${domain} is not a local domain` }]);
  const isAccount = () => new AppError(409, "already_exists", `${address} is already an account`);
  const taken = () => new AppError(409, "already_exists", `alias ${address} already exists`);
  if (await findAccountByAddress(store.db, address)) throw isAccount();
  if (await findAlias(store.db, address)) throw taken();
  const key = addressKey(address);
  let results;
  try {
    results = await store.batch([
      assertStep("NOT EXISTS (SELECT 1 FROM accounts WHERE address_key = ?)", [key]),
      {
        sql: `INSERT INTO aliases (domain_id, address, address_key, targets) VALUES (?, ?, ?, ?)
          RETURNING ${aliasesSql.columns}`,
        args: [dom.id, address, key, JSON.stringify(targets)],
      },
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) throw isAccount();
    if (/UNIQUE constraint failed: aliases\.address_key/.test(String(e))) throw taken();
    throw e;
  }
  return aliasView(aliasesSql.fromRow(results[1].rows[0] as unknown as Record<string, unknown>));
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
  const domain = () =>
    store.db.select().from(schema.domains).where(eq(schema.domains.id, domainId));
  if ((await domain()).length === 0) throw notFound("domain");
  let catchAllAccountId: number | null = null;
  if (catchAllAddress !== null) {
    const account = await findAccountByAddress(store.db, catchAllAddress);
    if (!account) {
      throw invalid([{
        path: "catchAllAddress",
        message: `${catchAllAddress} is not a local account`,
      }]);
    }
    catchAllAccountId = account.id;
  }
  // One statement: the account still there (or none asked for) and the domain's row back.
  const [set] = await store.batch([{
    sql: `UPDATE domains SET catch_all_account_id = ?1 WHERE id = ?2
      AND (?1 IS NULL OR EXISTS (SELECT 1 FROM accounts WHERE id = ?1))
      RETURNING ${domainsSql.columns}`,
    args: [catchAllAccountId, domainId],
  }]);
  const row = set.rows[0] as unknown as Record<string, unknown> | undefined;
  if (row) return domainsSql.fromRow(row);
  // The domain or the account went meanwhile.
  if ((await domain()).length === 0) throw notFound("domain");
  throw invalid([{
    path: "catchAllAddress",
    message: `${catchAllAddress} is not a local account`,
  }]);
}

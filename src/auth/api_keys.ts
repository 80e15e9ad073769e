/**
 * API keys for applications: `pst_` plus 256 random bits, shown once and stored as SHA-256 (a
 * fast hash is safe for keys this long). Each key carries scopes (`read`, `send`, `admin`,
 * `bridge`) and optionally the local domains it sends from, as any of their addresses. `bridge`
 * is for administrators only; `admin` and domains also for domain administrators, limited to
 * the domains they administer (their `admin` key manages those domains' settings and never the
 * server). Both are checked again on every use, so they end with the owner's role. A test key
 * (`pst_test_…`, as Stripe's test keys) makes every send it carries a test send: validated like a
 * live one, recorded, never delivered (transactional/test_mode.ts). The HTTP routes and the
 * `postern apikey` CLI both call these functions.
 */
import { eq } from "drizzle-orm";
import type { FieldError } from "../../schemas/problem.ts";
import { AppError, notFound } from "../errors.ts";
import { randomToken, sha256Hex } from "../crypto.ts";
import { findDomain, getAccount } from "../services/accounts.ts";
import { adminDomainsOf } from "../services/domain_roles.ts";
import type { Queryable, Store } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import { type Scope, SCOPES } from "./auth_context.ts";
import { API_KEY_PREFIX } from "./authenticate.ts";

/** How a test key starts, so that it is told apart at a glance (in code, logs and listings). */
export const TEST_KEY_PREFIX = `${API_KEY_PREFIX}test_`;

export type ApiKeyRow = typeof schema.apiKeys.$inferSelect;

export interface NewApiKey {
  name: string;
  scopes: Scope[];
  /** Local domains the key may send from; empty or absent means the account's own addresses. */
  domains?: string[];
  /** A test key: its sends are recorded, never delivered. */
  test?: boolean;
}

/** What listings show: never the key or its hash. */
export interface ApiKeyView {
  id: number;
  name: string;
  prefix: string;
  scopes: Scope[];
  domains: string[];
  test: boolean;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export const PREFIX_LENGTH = 12;

export function apiKeyView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as Scope[],
    domains: JSON.parse(row.domains) as string[],
    test: row.test,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

const apiKeysSql = tableSql(schema.apiKeys);

const invalid = (fields: FieldError[]) =>
  new AppError(422, "validation_failed", fields.map((f) => f.message).join("; "), fields);

/** Creates a key for an account; returns the key (shown once) and its view. */
export async function createApiKey(
  store: Store,
  accountId: number,
  input: NewApiKey,
): Promise<{ key: string; apiKey: ApiKeyView }> {
  const account = await getAccount(store.db, accountId);
  if (!account) throw notFound("account");
  const fields: FieldError[] = [];
  const name = input.name.trim();
  if (name.length === 0 || name.length > 100) {
    fields.push({ path: "name", message: "the name must have 1 to 100 characters" });
  }
  const scopes = [...new Set(input.scopes)];
  if (scopes.length === 0) fields.push({ path: "scopes", message: "at least one scope is needed" });
  scopes.forEach((s, i) => {
    if (!SCOPES.includes(s)) fields.push({ path: `scopes.${i}`, message: `unknown scope "${s}"` });
  });
  const domains = [...new Set((input.domains ?? []).map((d) => d.trim().toLowerCase()))];
  for (const [i, d] of domains.entries()) {
    if (!await findDomain(store.db, d)) {
      fields.push({ path: `domains.${i}`, message: `${d} is not a local domain` });
    }
  }
  if (fields.length) throw invalid(fields);
  const administered = account.role === "admin"
    ? []
    : (await adminDomainsOf(store.db, [account.id])).get(account.id)!;
  if (account.role !== "admin") {
    // A domain administrator's `admin` key manages its domains' settings (checked again on each
    // use, so it stops when the role does); it never reaches the server's administration.
    if (
      scopes.includes("bridge") || scopes.includes("metrics") ||
      (scopes.includes("admin") && administered.length === 0)
    ) {
      throw new AppError(
        403,
        "forbidden",
        "only administrators may create keys with the bridge or metrics scope, and only administrators " +
          "and domain administrators keys with the admin scope",
      );
    }
    // A key restricted to a domain sends as any address of it: that is a domain administrator's
    // right, never a plain user's (who would otherwise sign as the domain's other accounts).
    if (domains.some((d) => !administered.includes(d))) {
      throw new AppError(
        403,
        "forbidden",
        "only administrators of a domain may create keys that send from that whole domain",
      );
    }
  }
  const key = (input.test ? TEST_KEY_PREFIX : API_KEY_PREFIX) + randomToken();
  const [row] = await store.db.insert(schema.apiKeys).values({
    accountId,
    name,
    prefix: key.slice(0, PREFIX_LENGTH),
    keyHash: await sha256Hex(key),
    scopes: JSON.stringify(scopes),
    domains: JSON.stringify(domains),
    test: input.test === true,
  }).returning();
  return { key, apiKey: apiKeyView(row) };
}

/** The account's keys, revoked ones included (with `revokedAt`), oldest first. */
export async function listApiKeys(db: Queryable, accountId: number): Promise<ApiKeyView[]> {
  const rows = await db.select().from(schema.apiKeys)
    .where(eq(schema.apiKeys.accountId, accountId))
    .orderBy(schema.apiKeys.id);
  return rows.map(apiKeyView);
}

/** Revokes one of the account's keys (idempotent); 404 when it is not the account's. */
export async function revokeApiKey(
  store: Store,
  accountId: number,
  id: number,
  nowMs = Date.now(),
): Promise<ApiKeyView> {
  // One write job: revoke if live (a revoked key keeps its first time), then read the row.
  const [, found] = await store.batch([{
    sql:
      "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND account_id = ? AND revoked_at IS NULL",
    args: [nowMs, id, accountId],
  }, {
    sql: `SELECT ${apiKeysSql.columns} FROM api_keys WHERE id = ? AND account_id = ?`,
    args: [id, accountId],
  }]);
  const row = found.rows[0];
  if (!row) throw notFound("API key");
  return apiKeyView(apiKeysSql.fromRow(row as unknown as Record<string, unknown>));
}

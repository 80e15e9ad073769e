/**
 * Domains, accounts and aliases: creation with the default special-use mailboxes (RFC 6154),
 * lookups by address (case-insensitive, SHARP `#` form accepted), passwords and quotas.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import { normalizeAddress, parseAddress } from "../../schemas/address.ts";
import { AppError, notFound } from "../errors.ts";
import { hashPassword, passwordProblem } from "../auth/password.ts";
import type { SecretBox } from "../crypto.ts";
import { localCache, type Queryable, type Store, type Tx } from "../store/store.ts";
import { BLOB_UNUSED } from "./blob_chunks.ts";
import { SERVER_ACCOUNT } from "../crypt/vault.ts";
import { generateDkimKeys, insertDkimKeys } from "./dkim_keys.ts";
import { resolveAdminDomains, writeAdminDomains } from "./domain_roles.ts";
import { generateFederationKey, insertFederationKey } from "../federation/key_gen.ts";
import {
  assertStep,
  isFailedAssertion,
  rawSql,
  readCaches,
  recordStatements,
  schema,
} from "../store/store.ts";
import { remember, scopeOf } from "../store/read_scope.ts";
import { tableSql } from "../store/table_sql.ts";
import { accountScope } from "./spam_settings.ts";
import type { Config } from "../config.ts";
import { defaultRetentionStatements } from "./retention.ts";

export type Account = typeof schema.accounts.$inferSelect;
export type Domain = typeof schema.domains.$inferSelect;
export type MailboxRole = "inbox" | "sent" | "drafts" | "trash" | "junk" | "archive";

/** The mailboxes every account starts with, and their RFC 6154 roles. */
export const DEFAULT_MAILBOXES: { name: string; role: MailboxRole }[] = [
  { name: "INBOX", role: "inbox" },
  { name: "Sent", role: "sent" },
  { name: "Drafts", role: "drafts" },
  { name: "Trash", role: "trash" },
  { name: "Junk", role: "junk" },
  { name: "Archive", role: "archive" },
];

export const addressKey = (address: string) => address.toLowerCase();

/** A UIDVALIDITY that differs for every mailbox created (RFC 3501 section 2.3.1.1). */
export function newUidValidity(nowMs: number): number {
  return (Math.floor(nowMs / 1000) + (crypto.getRandomValues(new Uint32Array(1))[0] % 1000)) %
      0xffffffff || 1;
}

// findDomain and findAccountByAddress run for every recipient of every delivery: plain SQL.
const domainsSql = tableSql(schema.domains);
const accountsSql = tableSql(schema.accounts);

/**
 * The local domain of that name. Remembered for a few seconds (store/read_cache.ts): every
 * recipient of every message asks, and domains change rarely. The Store empties the cache when
 * a statement writes the domains table.
 */
export async function findDomain(db: Queryable, name: string): Promise<Domain | undefined> {
  const key = name.toLowerCase();
  const found = await readCaches(db).domains.get(key, async () => {
    const row = await rawSql(db).get<Record<string, unknown>>(
      `SELECT ${domainsSql.columns} FROM domains WHERE name = ?`,
      [key],
    );
    return row ? domainsSql.fromRow(row) : null;
  });
  return (found as Domain | null) ?? undefined;
}

export async function listDomains(db: Queryable): Promise<Domain[]> {
  return await db.select().from(schema.domains).orderBy(schema.domains.name);
}

/**
 * Adds a local domain. With `secrets` (the master key's SecretBox) its DKIM keys and its
 * federation signing key are generated and stored right after it; without, they are generated
 * on first use. Two write jobs (the keys need the new id): a domain whose keys never got written
 * (a crash between them) gets them on first use too (`ensureDkimKeys`, the federation key
 * store), so nothing is lost either way, and no job is interactive (D1 runs both).
 */
export async function createDomain(
  store: Store,
  name: string,
  secrets?: SecretBox,
): Promise<Domain> {
  const domain = name.trim().toLowerCase();
  const now = Date.now();
  const keys = secrets ? await generateDkimKeys(secrets, now) : [];
  const federationKey = secrets ? await generateFederationKey(secrets, now) : undefined;
  let row: Domain;
  try {
    // The name's unique index is the guard: of two concurrent adds, one gets the 409.
    [row] = await store.db.insert(schema.domains).values({ name: domain }).returning();
  } catch (e) {
    // drizzle wraps the engine's error: the constraint is named in its cause.
    const text = `${(e as Error)?.message} ${((e as Error)?.cause as Error)?.message}`;
    if (/UNIQUE constraint failed: domains\.name/.test(text)) {
      throw new AppError(409, "already_exists", `domain ${domain} already exists`);
    }
    throw e;
  }
  if (keys.length > 0 || federationKey) {
    await store.batch(
      await recordStatements(async (tx) => {
        await insertDkimKeys(tx, row.id, keys);
        if (federationKey) await insertFederationKey(tx, row.id, federationKey);
      }),
    );
  }
  return row;
}

export async function findAccountByAddress(
  db: Queryable,
  address: string,
): Promise<Account | undefined> {
  const normal = normalizeAddress(address);
  if (!normal) return undefined;
  const key = addressKey(normal);
  // In a request with optimistic reads (store/read_scope.ts) the row comes from a cache the
  // change counter covers; its usage is as old as the entry (`usageMayBeOld`).
  const scoped = scopeOf(db) !== undefined;
  let loaded = false;
  const found = await remember(db, `account ${key}`, async () => {
    loaded = true;
    const row = await rawSql(db).get<Record<string, unknown>>(
      `SELECT ${accountsSql.columns} FROM accounts WHERE address_key = ?`,
      [key],
    );
    const account = row ? accountsSql.fromRow(row) : null;
    if (account && scoped) cachedUsage.add(account);
    return account;
  }, () => undefined);
  if (found && !loaded && !scoped && localCache(db)) {
    // The embedded file's cache (ReadCaches.local) answered: usage as old as the entry, said on
    // a copy, so that whoever read the row itself still has exact usage on theirs.
    const copy = { ...found };
    cachedUsage.add(copy);
    return copy;
  }
  return found ?? undefined;
}

/** Accounts a request took from its cache: `usedBytes` may be behind (quota is checked in SQL). */
const cachedUsage = new WeakSet<Account>();

/** True when `account.usedBytes` may be behind the store's (see findAccountByAddress). */
export function usageMayBeOld(account: Account): boolean {
  return cachedUsage.has(account);
}

export async function getAccount(db: Queryable, id: number): Promise<Account | undefined> {
  const [row] = await db.select().from(schema.accounts).where(eq(schema.accounts.id, id));
  return row;
}

export interface NewAccount {
  address: string;
  password: string;
  displayName?: string;
  role?: "user" | "admin";
  quotaBytes?: number;
  /** Local domains the account administers (services/domain_roles.ts). */
  adminDomains?: string[];
}

export async function createMailboxesFor(tx: Tx, accountId: number, nowMs: number): Promise<void> {
  await tx.insert(schema.mailboxes).values(
    DEFAULT_MAILBOXES.map((m) => ({
      accountId,
      name: m.name,
      role: m.role,
      uidValidity: newUidValidity(nowMs),
    })),
  );
}

/** Creates an account in an existing local domain, with its default mailboxes. */
export async function createAccount(
  store: Store,
  input: NewAccount,
  defaults: {
    quotaBytes: number;
    nowMs: number;
    /** Retention for the new Junk and Trash (services/retention.ts); absent: none. */
    retention?: Pick<Config, "retentionJunkDays" | "retentionTrashDays">;
  },
): Promise<Account> {
  const parsed = parseAddress(input.address);
  if (!parsed.ok) {
    throw new AppError(422, "validation_failed", `invalid address: ${parsed.error}`, [
      { path: "address", message: parsed.error },
    ]);
  }
  const problem = passwordProblem(input.password);
  if (problem) {
    throw new AppError(422, "validation_failed", problem, [{ path: "password", message: problem }]);
  }
  const passwordHash = await hashPassword(input.password);
  const { address, domain } = parsed.value;
  const administered = await resolveAdminDomains(store.db, input.adminDomains ?? []);
  // Reads first, then one write job (one round trip): the account, its mailboxes and its
  // administered domains, each naming the new row by its address key in SQL. The unique key
  // stops a second account of that address created meanwhile; the first step, an alias.
  const dom = await findDomain(store.db, domain);
  if (!dom) {
    throw new AppError(422, "validation_failed", `${domain} is not a local domain`, [
      { path: "address", message: `${domain} is not a local domain` },
    ]);
  }
  const key = addressKey(address);
  const taken = () => new AppError(409, "already_exists", `account ${address} already exists`);
  const aliased = () => new AppError(409, "already_exists", `${address} is already an alias`);
  if (await findAccountByAddress(store.db, address)) throw taken();
  if (await rawSql(store.db).get("SELECT 1 AS x FROM aliases WHERE address_key = ?", [key])) {
    throw aliased();
  }
  const newId = "(SELECT id FROM accounts WHERE address_key = ?)";
  let results;
  try {
    results = await store.batch([
      assertStep("NOT EXISTS (SELECT 1 FROM aliases WHERE address_key = ?)", [key]),
      {
        sql: `INSERT INTO accounts (domain_id, address, address_key, display_name, password_hash,
          role, quota_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        args: [
          dom.id,
          address,
          key,
          input.displayName ?? "",
          passwordHash,
          input.role ?? "user",
          input.quotaBytes ?? defaults.quotaBytes,
        ],
      },
      ...DEFAULT_MAILBOXES.map((m) => ({
        sql: `INSERT INTO mailboxes (account_id, name, role, uid_validity)
          VALUES (${newId}, ?, ?, ?)`,
        args: [key, m.name, m.role, newUidValidity(defaults.nowMs)],
      })),
      ...(defaults.retention ? defaultRetentionStatements(defaults.retention, newId, [key]) : []),
      ...administered.ids.map((domainId) => ({
        sql: `INSERT INTO account_domain_roles (account_id, domain_id) VALUES (${newId}, ?)`,
        args: [key, domainId],
      })),
      { sql: `SELECT ${accountsSql.columns} FROM accounts WHERE address_key = ?`, args: [key] },
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) throw aliased();
    if (/UNIQUE constraint failed: accounts\.address_key/.test(String(e))) throw taken();
    throw e;
  }
  const account = accountsSql.fromRow(
    results[results.length - 1].rows[0] as unknown as Record<string, unknown>,
  );
  // Its data key for encryption at rest (crypt/vault.ts) now, so that no mail job pays for it;
  // and the server's own (copies no account owns: a message every recipient forwards or
  // redirects), made with the first account rather than by the first delivery that needs it.
  if (store.vault?.sealNew) {
    await store.vault.activeKey(account.id);
    await store.vault.activeKey(SERVER_ACCOUNT);
  }
  return account;
}

export async function setPassword(
  store: Store,
  accountId: number,
  password: string,
): Promise<void> {
  const problem = passwordProblem(password);
  if (problem) {
    throw new AppError(422, "validation_failed", problem, [{ path: "password", message: problem }]);
  }
  const passwordHash = await hashPassword(password);
  const done = await store.db.update(schema.accounts).set({ passwordHash })
    .where(eq(schema.accounts.id, accountId)).returning({ id: schema.accounts.id });
  if (done.length === 0) throw notFound("account");
  // A new password ends every session (a stolen refresh token dies with the old password).
  await store.db.update(schema.sessions).set({ revokedAt: Date.now() })
    .where(and(eq(schema.sessions.accountId, accountId)));
}

/** Deletes an account and everything it owns; blobs no longer referenced are removed too. */
export async function deleteAccount(store: Store, accountId: number): Promise<void> {
  const now = Date.now();
  // One write job (one round trip): its first step stops it when there is no such account.
  const steps = await recordStatements(async (tx) => {
    await tx.run(
      // FTS rows are keyed by message id and have no foreign key: remove them first.
      sqlDeleteFts(accountId),
    );
    await tx.delete(schema.messages).where(eq(schema.messages.accountId, accountId));
    await tx.delete(schema.threads).where(eq(schema.threads.accountId, accountId));
    await tx.delete(schema.mailboxes).where(eq(schema.mailboxes.accountId, accountId));
    await tx.delete(schema.sessions).where(eq(schema.sessions.accountId, accountId));
    await tx.delete(schema.appPasswords).where(eq(schema.appPasswords.accountId, accountId));
    await tx.delete(schema.apiKeys).where(eq(schema.apiKeys.accountId, accountId));
    await tx.delete(schema.accountDomainRoles)
      .where(eq(schema.accountDomainRoles.accountId, accountId));
    await tx.delete(schema.uploads).where(eq(schema.uploads.accountId, accountId));
    // Sieve (schema_sieve.ts): scripts, managed rules and the vacation log go with the account.
    await tx.delete(schema.sieveScripts).where(eq(schema.sieveScripts.accountId, accountId));
    await tx.delete(schema.sieveManaged).where(eq(schema.sieveManaged.accountId, accountId));
    await tx.delete(schema.sieveVacationReplies)
      .where(eq(schema.sieveVacationReplies.accountId, accountId));
    await tx.delete(schema.events).where(eq(schema.events.accountId, accountId));
    // The spam filter's state (schema_spam.ts): its learned counts, what it learned from, its
    // queue, the addresses it wrote to and its own thresholds. A later account given the same
    // id must not inherit them.
    for (const table of ["spam_tokens", "spam_stats", "spam_learned", "spam_training"]) {
      await tx.run(sql`DELETE FROM ${sql.identifier(table)} WHERE account_id = ${accountId}`);
    }
    await tx.run(sql`DELETE FROM spam_correspondents WHERE account_id = ${accountId}`);
    await tx.run(sql`DELETE FROM spam_settings WHERE scope = ${accountScope(accountId)}`);
    // Its data keys are retired and marked for destruction (crypto-shredding, crypt/rotation.ts):
    // mail another account still shares may be sealed under them, so they go once a complete
    // `keys reencrypt` pass has re-sealed it under a living key.
    await tx.run(
      sql`UPDATE crypt_keys SET retired_at = coalesce(retired_at, ${now}),
        account_deleted_at = ${now} WHERE account_id = ${accountId}`,
    );
    await tx.update(schema.domains).set({ catchAllAccountId: null })
      .where(eq(schema.domains.catchAllAccountId, accountId));
    await tx.delete(schema.accounts).where(eq(schema.accounts.id, accountId));
    await tx.run(sqlDeleteOrphanBlobs());
  });
  try {
    await store.batch([
      assertStep("EXISTS (SELECT 1 FROM accounts WHERE id = ?)", [accountId]),
      ...steps,
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) throw notFound("account");
    throw e;
  }
}

function sqlDeleteFts(accountId: number) {
  return sql`DELETE FROM messages_fts WHERE rowid IN (SELECT id FROM messages WHERE account_id = ${accountId})`;
}
export function sqlDeleteOrphanBlobs() {
  return sql.raw(`DELETE FROM blobs WHERE ${BLOB_UNUSED}`);
}

/** Deletes a domain that has no accounts and no aliases left (409 otherwise). */
export async function deleteDomain(store: Store, domainId: number): Promise<Domain> {
  const [dom] = await store.db.select().from(schema.domains)
    .where(eq(schema.domains.id, domainId));
  if (!dom) throw notFound("domain");
  const inUse = () =>
    new AppError(409, "conflict", `domain ${dom.name} still has accounts or aliases`);
  // One write job: its first step re-checks that no account or alias came meanwhile.
  try {
    await store.batch([
      assertStep(
        "NOT EXISTS (SELECT 1 FROM accounts WHERE domain_id = ?1) " +
          "AND NOT EXISTS (SELECT 1 FROM aliases WHERE domain_id = ?1)",
        [domainId],
      ),
      { sql: "DELETE FROM account_domain_roles WHERE domain_id = ?", args: [domainId] },
      { sql: "DELETE FROM domains WHERE id = ?", args: [domainId] },
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) throw inUse();
    throw e;
  }
  return dom;
}

/** Accounts by id, `limit` at a time after the id `cursor`; `nextCursor` is null at the end. */
export async function listAccountsPage(
  db: Queryable,
  opts: { cursor?: number; limit: number; domainIds?: number[] },
): Promise<{ items: Account[]; nextCursor: string | null }> {
  const rows = await db.select().from(schema.accounts)
    .where(and(
      opts.cursor ? sql`${schema.accounts.id} > ${opts.cursor}` : undefined,
      opts.domainIds ? inArray(schema.accounts.domainId, opts.domainIds) : undefined,
    ))
    .orderBy(schema.accounts.id)
    .limit(opts.limit + 1);
  const more = rows.length > opts.limit;
  const items = rows.slice(0, opts.limit);
  return { items, nextCursor: more ? String(items[items.length - 1].id) : null };
}

export interface AccountChanges {
  displayName?: string;
  role?: "user" | "admin";
  quotaBytes?: number;
  disabled?: boolean;
  /** Replaces the set of local domains the account administers. */
  adminDomains?: string[];
}

/** Updates an account's profile fields; disabling it also ends its sessions. */
export async function updateAccount(
  store: Store,
  accountId: number,
  changes: AccountChanges,
  nowMs = Date.now(),
): Promise<Account> {
  const { adminDomains, ...fields } = changes;
  const set = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  const administered = adminDomains && await resolveAdminDomains(store.db, adminDomains);
  // One write job: its first step stops it when there is no such account; the last reads the
  // row as it stands.
  const steps = await recordStatements(async (tx) => {
    if (Object.keys(set).length) {
      await tx.update(schema.accounts).set(set).where(eq(schema.accounts.id, accountId));
    }
    if (administered) await writeAdminDomains(tx, accountId, administered.ids);
    if (changes.disabled) {
      await tx.update(schema.sessions).set({ revokedAt: nowMs })
        .where(eq(schema.sessions.accountId, accountId));
    }
  });
  let results;
  try {
    results = await store.batch([
      assertStep("EXISTS (SELECT 1 FROM accounts WHERE id = ?)", [accountId]),
      ...steps,
      { sql: `SELECT ${accountsSql.columns} FROM accounts WHERE id = ?`, args: [accountId] },
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) throw notFound("account");
    throw e;
  }
  return accountsSql.fromRow(
    results[results.length - 1].rows[0] as unknown as Record<string, unknown>,
  );
}

/**
 * The first local domain and its admin account, made once on a fresh store and left alone
 * afterwards: what `postern init` writes (cli/cmd_init.ts) and what an edge entry (Deno Deploy,
 * a Worker) does on its first request from POSTERN_DOMAIN, POSTERN_ADMIN_ADDRESS and
 * POSTERN_ADMIN_PASSWORD. Idempotent — run again with the same input it writes nothing — and
 * safe when several isolates start at once: the unique keys of domains and accounts decide,
 * the loser reads what the winner wrote. It refuses (409) what would hand the instance to
 * someone else or lose secrets: an admin address that names a user account, a second admin
 * when another one already runs the store, and a master key that cannot open the store's sealed
 * keys (every DKIM and federation key would be unusable, every session invalid).
 *
 * `alreadySetUp` answers the common case of an edge isolate's first request — a store migrated
 * and bootstrapped long ago — with one query instead of the seven round trips of the full path
 * (migration bookkeeping, the master-key check, the domain, the admin), which on D1 are each a
 * trip to the database's location, not the isolate's.
 */
import { parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import { AppError, conflict } from "../errors.ts";
import { hashOf, type Migration } from "../store/migrate.ts";
import { rawSql } from "../store/store.ts";
import {
  addressKey,
  createAccount,
  createDomain,
  findAccountByAddress,
  findDomain,
  setPassword,
} from "./accounts.ts";

export interface BootstrapInput {
  domain: string;
  adminAddress: string;
  /**
   * The new admin's password. Needed only when the admin is created (or reset); an existing
   * admin keeps the password it has, so a changed password survives every restart.
   */
  adminPassword?: string;
  /** Give an existing admin `adminPassword` (`postern init --reset-admin-password`). */
  resetAdminPassword?: boolean;
}

export interface BootstrapResult {
  domain: string;
  admin: string;
  domainCreated: boolean;
  adminCreated: boolean;
  passwordReset: boolean;
}

/** How another node of the same store must be started (deploy/README.md). */
const SHARED_KEY =
  "every node of one store shares its master key (POSTERN_MASTER_KEY of the first node)";

/**
 * Whether `secrets` opens what the store's first sealed secret (a DKIM private key) was sealed
 * with; true for a store that holds none yet. A gateway started with another master key would
 * sign tokens no other node accepts and could open none of the domains' keys.
 */
export async function masterKeyOpensStore(
  store: Deps["store"],
  secrets: Deps["secrets"],
): Promise<boolean> {
  const sealed = await rawSql(store.db).get<{ private_key: string }>(
    "SELECT private_key FROM dkim_keys LIMIT 1",
  );
  if (!sealed) return true;
  return await secrets.open(sealed.private_key).then(() => true, () => false);
}

/** Refuses a master key that cannot open a secret the store already holds. */
async function checkMasterKey(deps: Pick<Deps, "store" | "secrets">): Promise<void> {
  if (!await masterKeyOpensStore(deps.store, deps.secrets)) {
    throw conflict(`the master key does not open the keys this store holds: ${SHARED_KEY}`);
  }
}

/**
 * Whether the store needs nothing from `migrate` and `bootstrapInstance` for `input`: every one of
 * `migrations` applied with the SQL it has now, the master key opening the store's first sealed
 * key, the domain made and the admin an admin. One query; false on any doubt (a fresh store
 * whose tables do not exist yet, an edited migration, a key that does not open, a reset asked
 * for), after which the caller takes the full path, which applies, makes or reports as ever.
 */
export async function alreadySetUp(
  deps: Pick<Deps, "store" | "secrets">,
  input: BootstrapInput,
  migrations: readonly Migration[],
): Promise<boolean> {
  const admin = parseAddress(input.adminAddress);
  if (!admin.ok || input.resetAdminPassword) return false;
  let row: Record<string, unknown> | undefined;
  try {
    row = await rawSql(deps.store.db).get<Record<string, unknown>>(
      "SELECT (SELECT group_concat(tag || ' ' || hash, ',') FROM postern_migrations) AS applied, " +
        "(SELECT private_key FROM dkim_keys LIMIT 1) AS sealed, " +
        "(SELECT 1 FROM domains WHERE name = ?) AS domain, " +
        "(SELECT role FROM accounts WHERE address_key = ?) AS role",
      [input.domain.trim().toLowerCase(), addressKey(admin.value.address)],
    );
  } catch {
    return false; // no tables yet: a fresh store
  }
  if (!row || row.domain == null || row.role !== "admin" || typeof row.sealed !== "string") {
    return false;
  }
  const applied = new Set(String(row.applied ?? "").split(","));
  const hashes = await Promise.all(migrations.map(async (m) => `${m.tag} ${await hashOf(m)}`));
  if (!hashes.every((entry) => applied.has(entry))) return false;
  return await deps.secrets.open(row.sealed).then(() => true, () => false);
}

/** Ensures `input.domain` exists and `input.adminAddress` is an admin in it (see above). */
export async function bootstrapInstance(
  deps: Pick<Deps, "store" | "secrets" | "config" | "clock">,
  input: BootstrapInput,
): Promise<BootstrapResult> {
  const admin = parseAddress(input.adminAddress);
  if (!admin.ok) {
    throw new AppError(422, "validation_failed", `admin address: ${admin.error}`);
  }
  const domain = input.domain.trim().toLowerCase();
  if (admin.value.domain !== domain) {
    throw new AppError(
      422,
      "validation_failed",
      `the admin ${admin.value.address} is not in the domain ${domain}`,
    );
  }
  await checkMasterKey(deps);
  const { store } = deps;
  const result: BootstrapResult = {
    domain,
    admin: admin.value.address,
    domainCreated: false,
    adminCreated: false,
    passwordReset: false,
  };
  if (!await findDomain(store.db, domain)) {
    try {
      // The domain's DKIM and federation keys are made now, sealed with the master key.
      await createDomain(store, domain, deps.secrets);
      result.domainCreated = true;
    } catch (e) {
      // Another isolate or node made it meanwhile: that is the state we wanted.
      if (!(e instanceof AppError && e.code === "already_exists")) throw e;
    }
  }
  const existing = await findAccountByAddress(store.db, admin.value.address);
  if (existing) {
    if (existing.role !== "admin") {
      throw conflict(`${existing.address} exists but is not an admin account`);
    }
    if (input.resetAdminPassword) {
      if (!input.adminPassword) throw conflict("a new admin password is needed to reset it");
      await setPassword(store, existing.id, input.adminPassword);
      result.passwordReset = true;
    }
    return result;
  }
  const others = await rawSql(store.db).all<{ address: string }>(
    "SELECT address FROM accounts WHERE role = 'admin' ORDER BY id LIMIT 3",
  );
  if (others.length > 0) {
    throw conflict(
      `already initialised differently: ${
        others.map((o) => o.address).join(", ")
      } administers this store, not ${admin.value.address}`,
    );
  }
  if (!input.adminPassword) {
    throw new AppError(
      422,
      "validation_failed",
      `no password for the new admin ${admin.value.address} (POSTERN_ADMIN_PASSWORD)`,
    );
  }
  try {
    await createAccount(store, {
      address: admin.value.address,
      password: input.adminPassword,
      role: "admin",
    }, {
      quotaBytes: deps.config.defaultQuotaBytes,
      nowMs: deps.clock.now(),
      retention: deps.config,
    });
    result.adminCreated = true;
  } catch (e) {
    // Made by a concurrent start with the same input: fine; anything else stands.
    const now = await findAccountByAddress(store.db, admin.value.address);
    if (now?.role !== "admin") throw e;
  }
  return result;
}

/**
 * The first local domain and its administrator, made if missing: what `postern init` writes into
 * a store, and what an edge host (a Worker, which has no init step and no files) does on its
 * first request or cron run. Idempotent and safe when two runs race: the domain's and the
 * account's unique keys decide, and the loser finds the winner's rows. An existing administrator
 * is never changed unless `resetPassword` says so, and an address that exists as a plain user is
 * refused rather than promoted.
 */
import type { SecretBox } from "../crypto.ts";
import { AppError } from "../errors.ts";
import { rawSql, type Store } from "../store/store.ts";
import {
  createAccount,
  createDomain,
  findAccountByAddress,
  findDomain,
  setPassword,
} from "./accounts.ts";

export interface FirstAdmin {
  domain: string;
  admin: string;
  /** Needed only when the account must be made or reset. */
  password?: string;
  quotaBytes: number;
  /** Give an existing administrator this password (`init --reset-admin-password`). */
  resetPassword?: boolean;
}

export interface SetupOutcome {
  domainCreated: boolean;
  adminCreated: boolean;
  passwordReset: boolean;
}

const alreadyThere = (e: unknown) => e instanceof AppError && e.code === "already_exists";

/**
 * Whether `secrets` opens what the store's first sealed secret (a DKIM private key) was sealed
 * with; true for a store that holds none yet. A gateway started with another master key would
 * sign tokens no other node accepts and could open none of the domains' keys.
 */
export async function masterKeyOpensStore(store: Store, secrets: SecretBox): Promise<boolean> {
  const sealed = await rawSql(store.db).get<{ private_key: string }>(
    "SELECT private_key FROM dkim_keys LIMIT 1",
  );
  if (!sealed) return true;
  return await secrets.open(sealed.private_key).then(() => true, () => false);
}

export async function ensureDomainAndAdmin(
  store: Store,
  secrets: SecretBox,
  input: FirstAdmin,
  nowMs: number,
): Promise<SetupOutcome> {
  const outcome: SetupOutcome = { domainCreated: false, adminCreated: false, passwordReset: false };
  if (!await findDomain(store.db, input.domain)) {
    try {
      // The domain's DKIM and federation keys are made now, sealed with the master key.
      await createDomain(store, input.domain, secrets);
      outcome.domainCreated = true;
    } catch (e) {
      if (!alreadyThere(e)) throw e; // another run made it a moment ago
    }
  }
  const existing = await findAccountByAddress(store.db, input.admin);
  if (existing) {
    if (existing.role !== "admin") {
      throw new AppError(409, "conflict", `${existing.address} exists but is not an admin account`);
    }
    if (input.resetPassword) {
      if (!input.password) throw new AppError(422, "validation_failed", "no password to set");
      await setPassword(store, existing.id, input.password);
      outcome.passwordReset = true;
    }
    return outcome;
  }
  if (!input.password) {
    throw new AppError(
      422,
      "validation_failed",
      `no password for the first administrator ${input.admin} (POSTERN_ADMIN_PASSWORD)`,
    );
  }
  try {
    await createAccount(store, { address: input.admin, password: input.password, role: "admin" }, {
      quotaBytes: input.quotaBytes,
      nowMs,
    });
    outcome.adminCreated = true;
  } catch (e) {
    if (!alreadyThere(e)) throw e;
  }
  return outcome;
}

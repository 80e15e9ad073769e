/**
 * `postern init`: prepares a data folder without asking anything — master key (0600), database
 * and migrations, the first local domain and its admin account. Idempotent, so setup scripts can
 * re-run it: on a store that already holds this domain and admin and opens with this master key it
 * changes nothing and succeeds (exit 0); an existing admin is never overwritten unless
 * `--reset-admin-password` says so; a real conflict (another master key, another admin) exits 3.
 * A refused or unchanged init writes nothing at all (every check runs before the first write), so
 * running it on a second node of a shared store cannot leave that node with a master key of its
 * own.
 */
import { ensureTlsFiles } from "../hosts/process/bridge_runtime.ts";
import { silentLogger, systemClock } from "../src/ports.ts";
import { mkdir, rm, stat } from "node:fs/promises";
import { eq } from "drizzle-orm";
import type { Config } from "../src/config.ts";
import { randomToken, SecretBox } from "../src/crypto.ts";
import { AppError } from "../src/errors.ts";
import { addressKey } from "../src/services/accounts.ts";
import { bootstrapInstance } from "../src/services/bootstrap.ts";
import { rawSql, schema, type Store } from "../src/store/store.ts";
import { DomainName, parseAddress } from "../schemas/address.ts";
import { CliError, EXIT_CONFLICT, flag, type Invocation, str, usageError } from "./args.ts";
import { DEFAULT_DOMAIN } from "./commands.ts";
import {
  env,
  existingMasterKey,
  loadConfig,
  masterKey,
  openConfiguredStore,
  paths,
  printJson,
  writeSecretFile,
} from "./context.ts";

export interface InitOptions {
  domain: string;
  admin: string;
  /** Give an existing admin account a new password instead of refusing. */
  resetAdminPassword?: boolean;
}

export interface InitResult {
  dataDir: string;
  databaseUrl: string;
  masterKey: "env" | "file";
  domain: string;
  domainCreated: boolean;
  admin: string;
  adminCreated: boolean;
  /** Present only when the password was generated here (shown once). */
  password?: string;
  /** Where a generated password was saved (mode 0600). */
  passwordFile?: string;
  /** The store was already initialised like this: nothing was written. */
  unchanged?: boolean;
}

/**
 * The domain and admin from the flags, else POSTERN_DOMAIN and POSTERN_ADMIN_ADDRESS (the names
 * the edge entries and `postern deploy` use), else postern.localhost and admin@<domain>.
 */
export function initOptions(domainInput: string | undefined, adminInput: string | undefined) {
  domainInput ??= env().POSTERN_DOMAIN || undefined;
  adminInput ??= env().POSTERN_ADMIN_ADDRESS || undefined;
  const domain = DomainName.safeParse(domainInput ?? DEFAULT_DOMAIN);
  if (!domain.success) throw usageError(`--domain: ${domain.error.issues[0].message}`);
  const admin = parseAddress(adminInput ?? `admin@${domain.data}`);
  if (!admin.ok) throw usageError(`--admin: ${admin.error}`);
  if (admin.value.domain !== domain.data) {
    throw usageError(`--admin ${admin.value.address} is not in --domain ${domain.data}`);
  }
  return { domain: domain.data, admin: admin.value.address };
}

/** True when the store has no admin account yet (what `serve --init-if-needed` checks). */
export async function needsInit(store: Store): Promise<boolean> {
  const rows = await store.db.select({ id: schema.accounts.id }).from(schema.accounts)
    .where(eq(schema.accounts.role, "admin")).limit(1);
  return rows.length === 0;
}

/** What a store already holds that decides whether `init` may write anything. */
interface StoreState {
  /** Admin accounts, oldest first. */
  admins: string[];
  /** The requested admin address when an account has it (admin or not). */
  existing?: { id: number; address: string; role: string };
  /** One secret sealed with the master key that made the store (a DKIM private key). */
  sealed?: string;
  /** The requested domain is already a local domain. */
  domainExists: boolean;
}

/** Reads what the store holds, writing nothing (no migration, no new database file). */
async function inspectStore(
  config: Config,
  admin: string,
  domainKey: string,
): Promise<StoreState> {
  const { databaseUrl } = paths(config);
  const empty: StoreState = { admins: [], domainExists: false };
  if (databaseUrl.startsWith("file:")) {
    const file = databaseUrl.slice("file:".length);
    if (file === ":memory:" || !await stat(file).then(() => true, () => false)) return empty;
  }
  const store = await openConfiguredStore(config, { readOnly: true });
  try {
    const raw = rawSql(store.db);
    const tables = await raw.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('accounts', 'dkim_keys', 'domains')",
    );
    if (!tables.some((t) => t.name === "accounts")) return empty;
    const admins = await raw.all<{ address: string }>(
      "SELECT address FROM accounts WHERE role = 'admin' ORDER BY id",
    );
    const existing = await raw.get<{ id: number; address: string; role: string }>(
      "SELECT id, address, role FROM accounts WHERE address_key = ?",
      [addressKey(admin)],
    );
    const sealed = tables.some((t) => t.name === "dkim_keys")
      ? await raw.get<{ private_key: string }>("SELECT private_key FROM dkim_keys LIMIT 1")
      : undefined;
    const domain = tables.some((t) => t.name === "domains")
      ? await raw.get<{ name: string }>("SELECT name FROM domains WHERE name = ?", [domainKey])
      : undefined;
    return {
      admins: admins.map((a) => a.address),
      existing,
      sealed: sealed?.private_key,
      domainExists: domain !== undefined,
    };
  } finally {
    store.close();
  }
}

/** How a further node gets the key (deploy/README.md, "Several processes or nodes"). */
const SHARED_KEY_HINT = "Every node of one store shares its master key: give a further node " +
  "the first node's POSTERN_MASTER_KEY (the contents of its <dataDir>/master.key) and start it " +
  "without init.";

/**
 * The reason `init` must not run, worked out before it writes anything (a refused init that had
 * already made a master key left a node whose tokens no other node accepts). The master key is
 * checked first: a store that this key cannot open is a conflict whatever else matches.
 */
async function refusal(
  config: Config,
  options: InitOptions,
  state: StoreState,
  key: string | undefined,
): Promise<string | undefined> {
  const { databaseLabel } = paths(config);
  if (state.existing && state.existing.role !== "admin") {
    return `${state.existing.address} exists but is not an admin account`;
  }
  const keyProblem = await masterKeyProblem(databaseLabel, state, key);
  if (keyProblem) return keyProblem;
  if (state.admins.length > 0 && !state.existing) {
    const exist = state.admins.length === 1 ? "exists" : "exist";
    return `already initialised differently: ${
      state.admins.join(", ")
    } ${exist} in ${databaseLabel}, not ${options.admin}. ` + SHARED_KEY_HINT;
  }
  if (state.existing && !state.domainExists && !options.resetAdminPassword) {
    return `${state.existing.address} exists in ${databaseLabel} but ${options.domain} is not ` +
      "a local domain there";
  }
  return undefined;
}

/** Why `key` cannot be the master key of the existing store, if it cannot. */
async function masterKeyProblem(
  databaseLabel: string,
  state: StoreState,
  key: string | undefined,
): Promise<string | undefined> {
  if (state.sealed !== undefined || state.admins.length > 0) {
    // The store was made with a master key; a new one would open none of its secrets.
    if (!key) return `no master key for the existing store ${databaseLabel}. ${SHARED_KEY_HINT}`;
    if (state.sealed !== undefined) {
      const opens = await (await SecretBox.fromMasterKey(key)).open(state.sealed)
        .then(() => true, () => false);
      if (!opens) {
        return `the master key does not open the secrets of ${databaseLabel}. ${SHARED_KEY_HINT}`;
      }
    }
  }
  return undefined;
}

export async function initialise(config: Config, options: InitOptions): Promise<InitResult> {
  const p = paths(config);
  // Every check first, writing nothing: a refused init leaves every file and row as it was.
  const existingKey = await existingMasterKey(config);
  const state = await inspectStore(config, options.admin, options.domain);
  const refused = await refusal(config, options, state, existingKey);
  if (refused) throw new CliError(refused, EXIT_CONFLICT);
  if (state.existing && state.domainExists && !options.resetAdminPassword) {
    // Already initialised exactly like this: succeed without touching anything, so setup
    // scripts can run init every time.
    return {
      dataDir: p.dataDir,
      databaseUrl: p.databaseLabel,
      masterKey: config.masterKey ? "env" : "file",
      domain: options.domain,
      domainCreated: false,
      admin: state.existing.address,
      adminCreated: false,
      unchanged: true,
    };
  }

  // The folder holds the database and secrets: private to the owner when created here.
  await mkdir(p.dataDir, { recursive: true, mode: 0o700 });
  const key = existingKey ?? await masterKey(config, true);
  // STARTTLS and implicit TLS need a certificate from the start: a self-signed one until the
  // operator points POSTERN_TLS_CERT_FILE/KEY_FILE at a real one.
  await ensureTlsFiles(config, silentLogger);
  const store = await openConfiguredStore(config);
  try {
    const fromEnv = env().POSTERN_ADMIN_PASSWORD;
    const password = fromEnv || randomToken(18);
    // The same first-start step as the edge entries' (src/services/bootstrap.ts); refusal()
    // above has already turned away what it would refuse, with the CLI's own words.
    const { domainCreated, adminCreated } = await bootstrapInstance({
      store,
      secrets: await SecretBox.fromMasterKey(key),
      config,
      clock: systemClock,
    }, {
      domain: options.domain,
      adminAddress: options.admin,
      adminPassword: password,
      resetAdminPassword: options.resetAdminPassword,
    });
    const result: InitResult = {
      dataDir: p.dataDir,
      databaseUrl: p.databaseLabel,
      masterKey: config.masterKey ? "env" : "file",
      domain: options.domain,
      domainCreated,
      admin: options.admin,
      adminCreated,
    };
    if (fromEnv) {
      // A saved password from an earlier run would now be wrong.
      await rm(p.adminPasswordFile, { force: true });
    } else {
      await writeSecretFile(p.adminPasswordFile, password + "\n", { replace: true });
      result.password = password;
      result.passwordFile = p.adminPasswordFile;
    }
    return result;
  } catch (e) {
    if (e instanceof AppError) {
      throw new CliError(`init failed: ${e.message}`, e.status === 409 ? EXIT_CONFLICT : undefined);
    }
    throw e;
  } finally {
    store.close();
  }
}

export function describeInit(r: InitResult): string[] {
  if (r.unchanged) {
    return [
      `${r.dataDir} is already initialised, nothing changed`,
      `  database:   ${r.databaseUrl}`,
      `  domain:     ${r.domain}`,
      `  admin:      ${r.admin} (password unchanged; --reset-admin-password sets a new one)`,
    ];
  }
  const lines = [
    `Initialised ${r.dataDir}`,
    `  database:   ${r.databaseUrl}`,
    `  master key: ${
      r.masterKey === "env" ? "from POSTERN_MASTER_KEY" : `${r.dataDir}/master.key (mode 0600)`
    }`,
    `  domain:     ${r.domain}${r.domainCreated ? " (created)" : " (already there)"}`,
    `  admin:      ${r.admin}${r.adminCreated ? " (created)" : " (password reset)"}`,
  ];
  if (r.password) {
    lines.push(
      `  password:   ${r.password}`,
      `              (shown once; also saved in ${r.passwordFile}, mode 0600 —`,
      "              delete that file once you have changed or stored the password)",
    );
  } else {
    lines.push("  password:   from POSTERN_ADMIN_PASSWORD");
  }
  return lines;
}

export async function initCommand({ values }: Invocation) {
  const options = initOptions(str(values, "domain"), str(values, "admin"));
  const config = await loadConfig(values);
  const result = await initialise(config, {
    ...options,
    resetAdminPassword: flag(values, "reset-admin-password"),
  });
  if (flag(values, "json")) printJson(result);
  else console.log(describeInit(result).join("\n"));
}

/**
 * `postern init`: prepares a data folder without asking anything — master key (0600), database
 * and migrations, the first local domain and its admin account. Safe to repeat: an existing admin
 * is never overwritten unless `--reset-admin-password` says so.
 */
import { ensureTlsFiles } from "./bridge_runtime.ts";
import { silentLogger } from "../src/ports.ts";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { eq } from "drizzle-orm";
import type { Config } from "../src/config.ts";
import { randomToken, SecretBox } from "../src/crypto.ts";
import { AppError } from "../src/errors.ts";
import {
  createAccount,
  createDomain,
  findAccountByAddress,
  findDomain,
  setPassword,
} from "../src/services/accounts.ts";
import { schema, type Store } from "../src/store/store.ts";
import { DomainName, parseAddress } from "../schemas/address.ts";
import { CliError, flag, type Invocation, str, usageError } from "./args.ts";
import { DEFAULT_DOMAIN } from "./commands.ts";
import { env, loadConfig, masterKey, openConfiguredStore, paths, printJson } from "./context.ts";

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
}

export function initOptions(domainInput: string | undefined, adminInput: string | undefined) {
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

export async function initialise(config: Config, options: InitOptions): Promise<InitResult> {
  const p = paths(config);
  // The folder holds the database and secrets: private to the owner when created here.
  await mkdir(p.dataDir, { recursive: true, mode: 0o700 });
  const key = await masterKey(config, true);
  // STARTTLS and implicit TLS need a certificate from the start: a self-signed one until the
  // operator points POSTERN_TLS_CERT_FILE/KEY_FILE at a real one.
  await ensureTlsFiles(config, silentLogger);
  const store = await openConfiguredStore(config);
  try {
    let domainCreated = false;
    if (!await findDomain(store.db, options.domain)) {
      // The domain's DKIM keys are made now, sealed with the master key.
      await createDomain(store, options.domain, await SecretBox.fromMasterKey(key));
      domainCreated = true;
    }
    const fromEnv = env().POSTERN_ADMIN_PASSWORD;
    const password = fromEnv || randomToken(18);
    const existing = await findAccountByAddress(store.db, options.admin);
    let adminCreated = false;
    if (existing) {
      if (!options.resetAdminPassword) {
        throw new CliError(
          `already initialised: ${existing.address} exists in ${p.databaseUrl}; ` +
            "pass --reset-admin-password to give it a new password",
        );
      }
      if (existing.role !== "admin") {
        throw new CliError(`${existing.address} exists but is not an admin account`);
      }
      await setPassword(store, existing.id, password);
    } else {
      await createAccount(store, { address: options.admin, password, role: "admin" }, {
        quotaBytes: config.defaultQuotaBytes,
        nowMs: Date.now(),
      });
      adminCreated = true;
    }
    const result: InitResult = {
      dataDir: p.dataDir,
      databaseUrl: p.databaseUrl,
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
      await writeFile(p.adminPasswordFile, password + "\n", { mode: 0o600 });
      result.password = password;
      result.passwordFile = p.adminPasswordFile;
    }
    return result;
  } catch (e) {
    if (e instanceof AppError) throw new CliError(`init failed: ${e.message}`);
    throw e;
  } finally {
    store.close();
  }
}

export function describeInit(r: InitResult): string[] {
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

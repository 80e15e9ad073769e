/**
 * What every command needs from its surroundings, read once: the configuration (environment plus
 * an optional JSON file, validated by `parseConfig` with every problem reported at once), the
 * data folder's paths, the master key, and an open store. Uses `node:` APIs so the same code runs
 * on Deno and Bun.
 */
import { chmod, link, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import process from "node:process";
import { type Config, parseConfig, unknownSettings } from "../src/config.ts";
import { randomToken } from "../src/crypto.ts";
import type { Store } from "../src/store/store.ts";
import { CliError, EXIT_USAGE, str, type Values } from "./args.ts";
import { openStore, type OpenStoreOptions } from "../hosts/process/open_store.ts";

export const env = (): Record<string, string | undefined> => process.env;

/** POSTERN_* variables the commands read themselves, besides the settings of src/config.ts. */
const CLI_ENV = [
  "POSTERN_CONFIG",
  "POSTERN_URL",
  "POSTERN_API_KEY",
  "POSTERN_PASSWORD",
  "POSTERN_ADMIN_PASSWORD",
  "POSTERN_DOMAIN",
  "POSTERN_ADMIN_ADDRESS",
  "POSTERN_IMPORT_PASSWORD",
  "POSTERN_IMPORT_TEST_CRASH_AFTER",
  "POSTERN_TEST_ENGINE",
];

/** One warning per unknown POSTERN_* variable, with the closest known name when there is one. */
export function environmentWarnings(): string[] {
  return unknownSettings(env(), CLI_ENV).map(({ name, suggestion }) =>
    `unknown setting ${name} is ignored${suggestion ? ` (did you mean ${suggestion}?)` : ""}`
  );
}

/** Reads the environment and the config file (`--config`, else $POSTERN_CONFIG). */
export async function loadConfig(values: Values): Promise<Config> {
  const path = str(values, "config") ?? env().POSTERN_CONFIG;
  const problems: string[] = [];
  let file: Record<string, unknown> = {};
  if (path) {
    try {
      const parsed = JSON.parse(await readFile(path, "utf8"));
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        problems.push(`config file ${path}: must hold a JSON object`);
      } else {
        file = parsed;
      }
    } catch (e) {
      problems.push(`config file ${path}: ${(e as Error).message}`);
    }
  }
  const result = parseConfig(env(), file);
  if (!result.ok) problems.push(...result.problems);
  if (problems.length > 0 || !result.ok) {
    throw new CliError(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):`,
      EXIT_USAGE,
      problems.map((p) => `  - ${p}`),
    );
  }
  return result.config;
}

export interface Paths {
  dataDir: string;
  masterKeyFile: string;
  adminPasswordFile: string;
  databaseUrl: string;
  /** The database URL as printed and logged: without user info or an `authToken` parameter. */
  databaseLabel: string;
}

/**
 * `url` without the secrets a libSQL URL may carry (user info, `?authToken=`): the token of a
 * remote database is a credential for every mailbox in it.
 */
export function redactDatabaseUrl(url: string): string {
  if (url.startsWith("file:")) return url;
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = "";
      u.password = "";
    }
    if (u.searchParams.has("authToken")) u.searchParams.set("authToken", "(set)");
    return u.toString();
  } catch {
    return "(unparsable database URL)";
  }
}

export function paths(config: Config): Paths {
  const dataDir = resolve(config.dataDir);
  const databaseUrl = config.databaseUrl ?? `file:${resolve(dataDir, "postern.db")}`;
  return {
    dataDir,
    masterKeyFile: resolve(dataDir, "master.key"),
    adminPasswordFile: resolve(dataDir, "admin.password"),
    databaseUrl,
    databaseLabel: redactDatabaseUrl(databaseUrl),
  };
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw e;
  }
}

/**
 * Writes a secret file readable by its owner only (0600), all at once: the bytes go to a
 * temporary file beside it first, so a crash or a full disk never leaves a half-written secret
 * under the real name. `replace: false` refuses (EEXIST) when the file is already there, even
 * if another process made it a moment ago.
 */
export async function writeSecretFile(
  path: string,
  text: string,
  { replace = false }: { replace?: boolean } = {},
): Promise<void> {
  const temporary = `${path}.${randomToken(6)}.tmp`;
  await writeFile(temporary, text, { mode: 0o600, flag: "wx" });
  try {
    await chmod(temporary, 0o600);
    // link() never replaces an existing file; rename() does, atomically.
    if (replace) await rename(temporary, path);
    else await link(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
}

/**
 * The master key if there is one: $POSTERN_MASTER_KEY, else `<dataDir>/master.key`. Reads only;
 * undefined when neither is set.
 */
export async function existingMasterKey(config: Config): Promise<string | undefined> {
  if (config.masterKey) return config.masterKey;
  const { masterKeyFile } = paths(config);
  const existing = (await readIfExists(masterKeyFile))?.trim();
  if (existing === undefined || existing === "") return undefined;
  if (existing.length < 32) {
    throw new CliError(`${masterKeyFile}: the master key must be at least 32 characters`);
  }
  return existing;
}

/**
 * The master key: $POSTERN_MASTER_KEY, else `<dataDir>/master.key`. With `create`, a missing key
 * file is made (256 random bits, mode 0600); without it a missing key is an error.
 */
export async function masterKey(config: Config, create = false): Promise<string> {
  const existing = await existingMasterKey(config);
  if (existing) return existing;
  const { dataDir, masterKeyFile } = paths(config);
  if (!create) {
    throw new CliError(
      `no master key: set POSTERN_MASTER_KEY or run \`postern init\` (which creates ${masterKeyFile}); ` +
        "a further node on an existing store takes the first node's key",
    );
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const key = randomToken(32);
  await writeSecretFile(masterKeyFile, key + "\n");
  return key;
}

export async function readAdminPasswordFile(config: Config): Promise<string | undefined> {
  return (await readIfExists(paths(config).adminPasswordFile))?.trim();
}

export async function openConfiguredStore(
  config: Config,
  options: OpenStoreOptions = {},
): Promise<Store> {
  const { databaseUrl, databaseLabel } = paths(config);
  try {
    return await openStore(databaseUrl, { authToken: config.databaseAuthToken, ...options });
  } catch (e) {
    throw new CliError(`cannot open the database ${databaseLabel}: ${(e as Error).message}`);
  }
}

/** Runs `fn` with an open, migrated store and closes it afterwards. */
export async function withStore<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openConfiguredStore(config);
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

/** Reads all of standard input (for `--password-stdin`), without its final line break. */
export async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  const text = new TextDecoder().decode(
    chunks.length === 1 ? chunks[0] : new Uint8Array(chunks.flatMap((c) => [...c])),
  );
  return text.replace(/\r?\n$/, "");
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/**
 * `postern apikey …`: API keys for applications, created for an account directly in the store
 * (src/auth/api_keys.ts). A new key is printed once; only its SHA-256 is kept.
 */
import type { Scope } from "../src/auth/auth_context.ts";
import { type ApiKeyView, createApiKey, listApiKeys, revokeApiKey } from "../src/auth/api_keys.ts";
import { flag, type Invocation, list, str, table, usageError } from "./args.ts";
import { accountByAddress } from "./cmd_accounts.ts";
import { loadConfig, printJson, withStore } from "./context.ts";

const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();

function view(k: ApiKeyView) {
  return {
    ...k,
    createdAt: iso(k.createdAt),
    lastUsedAt: iso(k.lastUsedAt),
    revokedAt: iso(k.revokedAt),
  };
}

export async function apikeyCreate({ values, positionals }: Invocation) {
  const name = str(values, "name");
  if (!name) throw usageError("--name is required");
  const scopes = list(values, "scope");
  const config = await loadConfig(values);
  await withStore(config, async (store) => {
    const account = await accountByAddress(store, positionals[0]);
    const { key, apiKey } = await createApiKey(store, account.id, {
      name,
      scopes: (scopes.length ? scopes : ["send"]) as Scope[],
      domains: list(values, "domain"),
      test: flag(values, "test"),
    });
    if (flag(values, "json")) return printJson({ key, ...view(apiKey) });
    console.log(`created API key ${apiKey.id} "${apiKey.name}" for ${account.address}`);
    console.log(`  scopes:  ${apiKey.scopes.join(", ")}`);
    if (apiKey.domains.length) console.log(`  domains: ${apiKey.domains.join(", ")}`);
    if (apiKey.test) console.log("  test:    yes (sends are recorded, never delivered)");
    console.log(`  key:     ${key}`);
    console.log("(shown once: store it now; use it as `Authorization: Bearer <key>`)");
  });
}

export async function apikeyList({ values, positionals }: Invocation) {
  const config = await loadConfig(values);
  await withStore(config, async (store) => {
    const account = await accountByAddress(store, positionals[0]);
    const keys = (await listApiKeys(store.db, account.id)).map(view);
    if (flag(values, "json")) return printJson(keys);
    if (keys.length === 0) return console.log(`no API keys for ${account.address}`);
    console.log(table(
      ["ID", "NAME", "PREFIX", "SCOPES", "DOMAINS", "TEST", "CREATED", "REVOKED"],
      keys.map((k) => [
        k.id,
        k.name,
        k.prefix,
        k.scopes.join(","),
        k.domains.join(",") || "-",
        k.test ? "yes" : "-",
        k.createdAt ?? "",
        k.revokedAt ?? "-",
      ]),
    ));
  });
}

export async function apikeyRevoke({ values, positionals }: Invocation) {
  const id = Number(positionals[1]);
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw usageError(`expected a key id (a number), got ${positionals[1]}`);
  }
  const config = await loadConfig(values);
  await withStore(config, async (store) => {
    const account = await accountByAddress(store, positionals[0]);
    const key = await revokeApiKey(store, account.id, id);
    console.log(`revoked API key ${key.id} "${key.name}" of ${account.address}`);
  });
}

/**
 * `postern domain keys list|rotate DOMAIN`: a local domain's federation keys (Ed25519, published
 * at /.well-known/sharp/jwks). `rotate` makes a new signing key at once; the previous key stays
 * published and accepted for the overlap window (POSTERN_FEDERATION_KEY_OVERLAP_HOURS or
 * --overlap), then vanishes from the JWKS.
 */
import { DomainName } from "../schemas/address.ts";
import { silentLogger } from "../src/ports.ts";
import { listFederationKeys, rotateFederationKey } from "../src/federation/keys.ts";
import { CliError, flag, type Invocation, str, table, usageError } from "./args.ts";
import { loadConfig, masterKey, printJson, withStore } from "./context.ts";
import { buildDeps } from "../hosts/process/deps_node.ts";

const iso = (ms: number | null) => (ms === null ? "" : new Date(ms).toISOString());

export async function domainKeys({ values, positionals }: Invocation): Promise<void> {
  const [action, domainText] = positionals;
  if (action !== "list" && action !== "rotate") throw usageError("expected list or rotate");
  const name = DomainName.safeParse(domainText);
  if (!name.success) throw usageError(name.error.issues[0].message);
  const overlapText = str(values, "overlap");
  if (overlapText !== undefined && !/^\d+$/.test(overlapText)) {
    throw usageError(`--overlap: expected hours, got ${overlapText}`);
  }
  const config = await loadConfig(values);
  const key = await masterKey(config);
  await withStore(config, async (store) => {
    const deps = await buildDeps(config, store, key, silentLogger);
    if (action === "rotate") {
      const overlap = overlapText === undefined ? undefined : Number(overlapText);
      const rotation = await rotateFederationKey(deps, name.data, overlap);
      if (!rotation) throw new CliError(`no local domain ${name.data}`);
      if (flag(values, "json")) {
        return printJson({
          ...rotation,
          retired: rotation.retired.map((r) => ({ ...r, expiresAt: iso(r.expiresAt) })),
        });
      }
      console.log(`${rotation.domain}: new signing key ${rotation.kid}`);
      for (const r of rotation.retired) {
        console.log(`  ${r.kid} stays published until ${iso(r.expiresAt)}`);
      }
      return;
    }
    const rows = await listFederationKeys(deps, name.data);
    if (!rows) throw new CliError(`no local domain ${name.data}`);
    const now = Date.now();
    const shown = rows.map((r) => ({
      kid: r.kid,
      state: r.retiredAt === null
        ? "signing"
        : r.expiresAt !== null && r.expiresAt <= now
        ? "expired"
        : "published",
      createdAt: iso(r.createdAt),
      expiresAt: iso(r.expiresAt),
    }));
    if (flag(values, "json")) return printJson(shown);
    if (shown.length === 0) {
      console.log(`${name.data} has no federation key yet (one is made on first use)`);
      return;
    }
    console.log(table(
      ["KID", "STATE", "CREATED", "LEAVES JWKS"],
      shown.map((k) => [k.kid, k.state, k.createdAt, k.expiresAt]),
    ));
  });
}

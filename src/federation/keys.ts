/**
 * Each local domain's federation keys (Ed25519, RFC 8037 OKP JWKs, made by key_gen.ts): the
 * first is generated with the domain (createDomain with the master key), or on first use for a
 * domain created without it; the current key signs envelopes and receipts, and
 * `rotate` makes a new current key while the old one stays published (and accepted) for the
 * overlap window; keys past their window vanish from the JWKS. The kid is the RFC 7638
 * thumbprint of the public JWK.
 */
import { and, desc, eq, gt, isNull, or } from "drizzle-orm";
import type { FederationJwks } from "../../schemas/federation.ts";
import type { Deps } from "../deps.ts";
import { schema } from "../store/store.ts";
import type { Queryable } from "../store/store.ts";
import { findDomain } from "../services/accounts.ts";
import { generateFederationKey } from "./key_gen.ts";

export type FederationKeyRow = typeof schema.federationKeys.$inferSelect;

export interface SigningKey {
  kid: string;
  key: CryptoKey;
}

/** Imported private keys by kid (importing costs more than signing). */
const imported = new Map<string, CryptoKey>();

async function currentRow(db: Queryable, domainId: number) {
  const [row] = await db.select().from(schema.federationKeys).where(and(
    eq(schema.federationKeys.domainId, domainId),
    isNull(schema.federationKeys.retiredAt),
  )).orderBy(desc(schema.federationKeys.id)).limit(1);
  return row;
}

/** The domain's current key row, generated when it has none; undefined for non-local domains. */
export async function ensureFederationKey(
  deps: Deps,
  domainName: string,
): Promise<FederationKeyRow | undefined> {
  const domain = await findDomain(deps.store.db, domainName);
  if (!domain) return undefined;
  const existing = await currentRow(deps.store.db, domain.id);
  if (existing) return existing;
  const fresh = await generateFederationKey(deps.secrets, deps.clock.now());
  // One write job: the key goes in only if the domain still has no current one when it runs
  // (another gateway may have made it meanwhile); the current row is read back either way.
  await deps.store.batch([{
    sql: `INSERT INTO federation_keys (domain_id, kid, private_jwk, public_jwk, created_at)
      SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS
        (SELECT 1 FROM federation_keys WHERE domain_id = ?1 AND retired_at IS NULL)`,
    args: [
      domain.id,
      fresh.kid,
      fresh.privateJwk,
      fresh.publicJwk,
      fresh.createdAt ?? deps.clock.now(),
    ],
  }]);
  return await currentRow(deps.store.db, domain.id);
}

/** The current key per domain, kept briefly (a rotation elsewhere is seen within seconds). */
const current = new WeakMap<Deps, Map<string, { key: SigningKey; until: number }>>();
const CURRENT_TTL_MS = 5000;

/** The key that signs for `domainName` now. */
export async function signingKey(
  deps: Deps,
  domainName: string,
): Promise<SigningKey | undefined> {
  let cache = current.get(deps);
  if (!cache) current.set(deps, cache = new Map());
  const hit = cache.get(domainName);
  const now = deps.clock.now();
  if (hit && hit.until > now) return hit.key;
  const row = await ensureFederationKey(deps, domainName);
  if (!row) return undefined;
  let key = imported.get(row.kid);
  if (!key) {
    const jwk = JSON.parse(await deps.secrets.open(row.privateJwk)) as JsonWebKey;
    key = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
    imported.set(row.kid, key);
  }
  cache.set(domainName, { key: { kid: row.kid, key }, until: now + CURRENT_TTL_MS });
  return { kid: row.kid, key };
}

/** The published keys: the current one and those still inside their overlap window. */
export async function publishedJwks(deps: Deps, domainName: string): Promise<FederationJwks> {
  const domain = await findDomain(deps.store.db, domainName);
  if (!domain) return { keys: [] };
  await ensureFederationKey(deps, domainName);
  const now = deps.clock.now();
  const rows = await deps.store.db.select().from(schema.federationKeys).where(and(
    eq(schema.federationKeys.domainId, domain.id),
    or(isNull(schema.federationKeys.expiresAt), gt(schema.federationKeys.expiresAt, now)),
  )).orderBy(desc(schema.federationKeys.id));
  return {
    keys: rows.map((r) => ({
      ...JSON.parse(r.publicJwk),
      nbf: Math.floor(r.createdAt / 1000),
      ...(r.expiresAt ? { exp: Math.floor(r.expiresAt / 1000) } : {}),
    })),
  };
}

export interface Rotation {
  domain: string;
  kid: string;
  retired: { kid: string; expiresAt: number }[];
}

/**
 * Makes a new current key; the previous current key stops signing and stays published until
 * `now + overlapHours` (default: the configured overlap), so receipts and envelopes it signed
 * moments ago still verify at peers with a fresh JWKS.
 */
export async function rotateFederationKey(
  deps: Deps,
  domainName: string,
  overlapHours = deps.config.federationKeyOverlapHours,
): Promise<Rotation | undefined> {
  const domain = await findDomain(deps.store.db, domainName);
  if (!domain) return undefined;
  const now = deps.clock.now();
  const fresh = await generateFederationKey(deps.secrets, now);
  const expiresAt = now + overlapHours * 3_600_000;
  // One write job: the current key retires, the new one goes in.
  const [old] = await deps.store.batch([
    {
      sql: `UPDATE federation_keys SET retired_at = ?, expires_at = ?
        WHERE domain_id = ? AND retired_at IS NULL RETURNING kid`,
      args: [now, expiresAt, domain.id],
    },
    {
      sql: `INSERT INTO federation_keys (domain_id, kid, private_jwk, public_jwk, created_at)
        VALUES (?, ?, ?, ?, ?)`,
      args: [domain.id, fresh.kid, fresh.privateJwk, fresh.publicJwk, fresh.createdAt ?? now],
    },
  ]);
  const retired = old.rows.map((r) => ({ kid: String(r.kid), expiresAt }));
  current.get(deps)?.delete(domain.name);
  deps.logger.log("info", "federation.key_rotated", { domain: domain.name, kid: fresh.kid });
  return { domain: domain.name, kid: fresh.kid, retired };
}

/** Every key row of a domain (the CLI lists them). */
export async function listFederationKeys(
  deps: Deps,
  domainName: string,
): Promise<FederationKeyRow[] | undefined> {
  const domain = await findDomain(deps.store.db, domainName);
  if (!domain) return undefined;
  return await deps.store.db.select().from(schema.federationKeys)
    .where(eq(schema.federationKeys.domainId, domain.id)).orderBy(desc(schema.federationKeys.id));
}

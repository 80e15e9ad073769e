/**
 * A new federation key for a local domain: an Ed25519 pair (RFC 8037 OKP JWKs) whose kid is the
 * RFC 7638 thumbprint of the public JWK, the private half sealed with the master key. Made when
 * a domain is created (with its DKIM keys, in the same transaction) and at each rotation.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";
import { FEDERATION_ALG } from "../../schemas/federation.ts";
import type { SecretBox } from "../crypto.ts";
import { type Queryable, schema } from "../store/store.ts";

export type NewFederationKey = Omit<typeof schema.federationKeys.$inferInsert, "domainId">;

export async function generateFederationKey(
  secrets: SecretBox,
  nowMs: number,
): Promise<NewFederationKey> {
  const { publicKey, privateKey } = await generateKeyPair("Ed25519", { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  const publicJwk = { ...pub, kid, alg: FEDERATION_ALG, use: "sig" };
  const priv = { ...(await exportJWK(privateKey)), kid, alg: FEDERATION_ALG };
  return {
    kid,
    privateJwk: await secrets.seal(JSON.stringify(priv)),
    publicJwk: JSON.stringify(publicJwk),
    createdAt: nowMs,
  };
}

/** Stores a key made by generateFederationKey (inside the caller's transaction). */
export async function insertFederationKey(db: Queryable, domainId: number, key: NewFederationKey) {
  const [row] = await db.insert(schema.federationKeys).values({ ...key, domainId }).returning();
  return row;
}

/**
 * DKIM keys of the local domains: generation with Web Crypto (RSA-2048 for rsa-sha256, RFC 6376
 * and RFC 8301; Ed25519 for ed25519-sha256, RFC 8463), sealing of the private keys with the
 * master key, and the signing material the bridge fetches. The DNS records that publish the keys
 * are built in dns_records.ts.
 */
import { and, desc, eq } from "drizzle-orm";
import { type SecretBox, toBase64 } from "../crypto.ts";
import type { Queryable, Store, Tx } from "../store/store.ts";
import { assertStep, isFailedAssertion, recordStatements, schema } from "../store/store.ts";

export type DkimAlgorithm = "rsa-sha256" | "ed25519-sha256";
export type DkimKeyRow = typeof schema.dkimKeys.$inferSelect;

/** A generated key pair, before it is stored. */
export interface NewDkimKey {
  selector: string;
  algorithm: DkimAlgorithm;
  /** Sealed PKCS #8 PEM. */
  privateKey: string;
  /** The DNS `p=` value. */
  publicKey: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Selectors carry the creation date so that a rotated key gets a new name (RFC 6376 3.1). */
export function selectorsFor(nowMs: number): Record<DkimAlgorithm, string> {
  const day = new Date(nowMs).toISOString().slice(0, 10).replaceAll("-", "");
  return { "rsa-sha256": `r${day}`, "ed25519-sha256": `e${day}` };
}

/** Generates both key pairs; the private keys leave this function sealed. */
export async function generateDkimKeys(secrets: SecretBox, nowMs: number): Promise<NewDkimKey[]> {
  const selectors = selectorsFor(nowMs);
  const rsa = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  const ed = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  return [
    {
      selector: selectors["rsa-sha256"],
      algorithm: "rsa-sha256",
      privateKey: await secrets.seal(
        pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", rsa.privateKey)),
      ),
      // RFC 6376 section 3.6.1: p= is the base64 SubjectPublicKeyInfo.
      publicKey: toBase64(await crypto.subtle.exportKey("spki", rsa.publicKey)),
    },
    {
      selector: selectors["ed25519-sha256"],
      algorithm: "ed25519-sha256",
      privateKey: await secrets.seal(
        pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", ed.privateKey)),
      ),
      // RFC 8463 section 4.2: p= is the bare 32-byte public key, not an SPKI structure.
      publicKey: toBase64(await crypto.subtle.exportKey("raw", ed.publicKey)),
    },
  ];
}

/** Stores generated keys for a domain inside the caller's transaction (idempotent per selector). */
export async function insertDkimKeys(tx: Tx, domainId: number, keys: NewDkimKey[]): Promise<void> {
  if (keys.length === 0) return;
  await tx.insert(schema.dkimKeys).values(keys.map((k) => ({ ...k, domainId })))
    .onConflictDoNothing();
}

async function domainByName(db: Queryable, name: string) {
  const [row] = await db.select().from(schema.domains).where(
    eq(schema.domains.name, name.trim().toLowerCase()),
  );
  return row;
}

export async function listDkimKeys(db: Queryable, domainId: number): Promise<DkimKeyRow[]> {
  return await db.select().from(schema.dkimKeys).where(
    and(eq(schema.dkimKeys.domainId, domainId), eq(schema.dkimKeys.active, true)),
  ).orderBy(desc(schema.dkimKeys.algorithm), schema.dkimKeys.id);
}

/**
 * The active keys of a local domain, generated on first use when the domain has none (domains
 * created before keys existed, or by a caller that had no master key at hand). Undefined when
 * the domain is not local.
 */
export async function ensureDkimKeys(
  store: Store,
  secrets: SecretBox,
  domainName: string,
  nowMs: number,
): Promise<{ domain: string; keys: DkimKeyRow[] } | undefined> {
  const domain = await domainByName(store.db, domainName);
  if (!domain) return undefined;
  const existing = await listDkimKeys(store.db, domain.id);
  if (existing.length > 0) return { domain: domain.name, keys: existing };
  // Generate outside the write lock (RSA takes a while); a concurrent caller's keys win.
  const generated = await generateDkimKeys(secrets, nowMs);
  // One write job: its first step stops it when a concurrent caller stored keys meanwhile.
  try {
    await store.batch([
      assertStep("NOT EXISTS (SELECT 1 FROM dkim_keys WHERE domain_id = ?)", [domain.id]),
      ...await recordStatements((tx) => insertDkimKeys(tx, domain.id, generated)),
    ]);
  } catch (e) {
    if (!isFailedAssertion(e)) throw e;
  }
  return { domain: domain.name, keys: await listDkimKeys(store.db, domain.id) };
}

/** The keys with their private halves opened, for the bridge to sign with. */
export async function signingKeys(
  secrets: SecretBox,
  keys: DkimKeyRow[],
): Promise<{ selector: string; algorithm: DkimAlgorithm; privateKeyPem: string }[]> {
  return await Promise.all(keys.map(async (k) => ({
    selector: k.selector,
    algorithm: k.algorithm,
    privateKeyPem: await secrets.open(k.privateKey),
  })));
}

/**
 * Signed federation objects (docs/federation.md section 5): a JWS compact serialization
 * (RFC 7515 section 7.1) with `alg: EdDSA` (RFC 8037) whose payload is the RFC 8785 canonical
 * JSON of the claims, so any implementation can rebuild and compare the signed bytes. Also the
 * content digest and the proof-of-work stamp, which are pure hashing.
 */
import { CompactSign, compactVerify, decodeProtectedHeader } from "jose";
import { canonicalBytes, canonicalJson } from "../../schemas/canonical_json.ts";
import { FEDERATION_ALG, type FederationJwks, POW_ALGORITHM } from "../../schemas/federation.ts";
import { sha256Hex, toBase64Url } from "../crypto.ts";
import type { SigningKey } from "./keys.ts";

/** `sha256:` + base64url of SHA-256 over the exact bytes. */
export async function contentDigest(raw: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", raw as Uint8Array<ArrayBuffer>);
  return `sha256:${toBase64Url(new Uint8Array(digest))}`;
}

export async function signClaims(
  claims: Record<string, unknown>,
  typ: string,
  key: SigningKey,
): Promise<string> {
  return await new CompactSign(canonicalBytes(claims))
    .setProtectedHeader({ alg: FEDERATION_ALG, kid: key.kid, typ })
    .sign(key.key);
}

export interface JwsHeader {
  kid: string;
  typ: string;
}

/** The protected header, or undefined when the text is not a JWS of our shape. */
export function readHeader(jws: string): JwsHeader | undefined {
  try {
    const h = decodeProtectedHeader(jws);
    if (h.alg !== FEDERATION_ALG || typeof h.kid !== "string" || typeof h.typ !== "string") {
      return undefined;
    }
    return { kid: h.kid, typ: h.typ };
  } catch {
    return undefined;
  }
}

/** The payload parsed without checking the signature (to learn the issuer first). */
export function readPayload(jws: string): unknown {
  const parts = jws.split(".");
  if (parts.length !== 3) return undefined;
  try {
    const b64 = parts[1].replaceAll("-", "+").replaceAll("_", "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    return undefined;
  }
}

const verifyKeys = new Map<string, CryptoKey>();

export type VerifyResult =
  | { ok: true; payload: unknown }
  | { ok: false; reason: "unknown_key" | "bad_signature" | "not_canonical" };

/**
 * Verifies a JWS against a JWKS: the kid must be published and inside its validity window at
 * `nowSeconds`, the signature must hold, and the payload must be canonical JSON (so the signed
 * bytes are exactly what a verifier rebuilds).
 */
export async function verifyWithJwks(
  jws: string,
  jwks: FederationJwks,
  nowSeconds: number,
): Promise<VerifyResult> {
  const header = readHeader(jws);
  const jwk = header && jwks.keys.find((k) => k.kid === header.kid);
  if (!header || !jwk) return { ok: false, reason: "unknown_key" };
  if ((jwk.exp !== undefined && nowSeconds >= jwk.exp)) return { ok: false, reason: "unknown_key" };
  const cacheKey = `${jwk.kid}.${jwk.x}`;
  let key = verifyKeys.get(cacheKey);
  if (!key) {
    const { kty, crv, x } = jwk;
    key = await crypto.subtle.importKey("jwk", { kty, crv, x }, { name: "Ed25519" }, false, [
      "verify",
    ]);
    if (verifyKeys.size > 10_000) verifyKeys.clear();
    verifyKeys.set(cacheKey, key);
  }
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(jws, key, { algorithms: [FEDERATION_ALG] }));
  } catch {
    return { ok: false, reason: "bad_signature" };
  }
  const text = new TextDecoder().decode(payloadBytes);
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not_canonical" };
  }
  if (canonicalJson(payload) !== text) return { ok: false, reason: "not_canonical" };
  return { ok: true, payload };
}

/** The string whose SHA-256 a proof-of-work stamp hashes (docs/federation.md). */
export function powInput(aud: string, digest: string, nonce: string, counter: string): string {
  return `${POW_ALGORITHM}:${aud}:${digest}:${nonce}:${counter}`;
}

function leadingZeroBits(hex: string): number {
  let bits = 0;
  for (const ch of hex) {
    const n = parseInt(ch, 16);
    if (n === 0) {
      bits += 4;
      continue;
    }
    return bits + Math.clz32(n) - 28;
  }
  return bits;
}

export async function checkPow(
  bits: number,
  aud: string,
  digest: string,
  nonce: string,
  counter: string,
): Promise<boolean> {
  return leadingZeroBits(await sha256Hex(powInput(aud, digest, nonce, counter))) >= bits;
}

/** Finds a counter (base-36) that gives `bits` leading zero bits: about 2^bits hashes. */
export async function mintPow(
  bits: number,
  aud: string,
  digest: string,
  nonce: string,
): Promise<string> {
  for (let i = 0;; i++) {
    const counter = i.toString(36);
    if (await checkPow(bits, aud, digest, nonce, counter)) return counter;
  }
}

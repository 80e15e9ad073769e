/**
 * Signed federation objects (docs/federation.md section 5): a JWS compact serialization
 * (RFC 7515 section 7.1) with `alg: EdDSA` (RFC 8037) whose payload is the RFC 8785 canonical
 * JSON of the claims, so any implementation can rebuild and compare the signed bytes. Also the
 * content digest and the proof-of-work stamp, which are pure hashing.
 */
import { canonicalBytes, canonicalJson } from "../../schemas/canonical_json.ts";
import { FEDERATION_ALG, type FederationJwks, POW_ALGORITHM } from "../../schemas/federation.ts";
import { fromBase64Url, rememberSha256, sha256Hex, toBase64Url } from "../crypto.ts";
import type { SigningKey } from "./keys.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * `sha256:` + base64url of SHA-256 over the exact bytes. The hex form is remembered for these
 * bytes (crypto.ts), so the delivery that stores them does not hash them again.
 */
export async function contentDigest(raw: Uint8Array): Promise<string> {
  const hex = await sha256Hex(raw);
  rememberSha256(raw, hex);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return `sha256:${toBase64Url(bytes)}`;
}

/** The encoded protected header per key and type: the same bytes for every object it signs. */
const headers = new Map<string, string>();

/**
 * A compact JWS (RFC 7515 section 7.1) over the canonical JSON of `claims`, signed with the
 * key's Ed25519 private key (RFC 8037 section 3.1: the signature over the ASCII signing input).
 * Written here rather than through a JOSE library: two signatures and two verifications on
 * each delivery, whose library checks and copies cost nearly as much as the Ed25519 itself.
 */
export async function signClaims(
  claims: Record<string, unknown>,
  typ: string,
  key: SigningKey,
): Promise<string> {
  const id = `${key.kid}\n${typ}`;
  let header = headers.get(id);
  if (!header) {
    header = toBase64Url(
      encoder.encode(JSON.stringify({ alg: FEDERATION_ALG, kid: key.kid, typ })),
    );
    if (headers.size > 1000) headers.clear();
    headers.set(id, header);
  }
  const input = `${header}.${toBase64Url(canonicalBytes(claims))}`;
  const signature = await crypto.subtle.sign("Ed25519", key.key, encoder.encode(input));
  return `${input}.${toBase64Url(new Uint8Array(signature))}`;
}

export interface JwsHeader {
  kid: string;
  typ: string;
}

/** A compact JWS taken apart (nothing verified yet). */
interface Parts {
  header: JwsHeader;
  /** The first two segments, which the signature covers. */
  input: string;
  payload: Uint8Array;
  signature: Uint8Array;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const parsedParts = new Map<string, Parts>();

/**
 * The three segments of a compact JWS of our shape (alg EdDSA, string kid and typ, no `crit`:
 * RFC 7515 section 4.1.11 has a verifier refuse extensions it does not know, and we know none),
 * or undefined. The last few results are kept: a receiver reads the header, then the payload,
 * then verifies the same text.
 */
function parts(jws: string): Parts | undefined {
  const hit = parsedParts.get(jws);
  if (hit) return hit;
  if (typeof jws !== "string") return undefined;
  const segments = jws.split(".");
  if (segments.length !== 3 || !segments.every((s) => BASE64URL.test(s))) return undefined;
  try {
    const h = JSON.parse(decoder.decode(fromBase64Url(segments[0])));
    if (
      typeof h !== "object" || h === null || h.alg !== FEDERATION_ALG ||
      typeof h.kid !== "string" || typeof h.typ !== "string" || "crit" in h
    ) return undefined;
    const out: Parts = {
      header: { kid: h.kid, typ: h.typ },
      input: `${segments[0]}.${segments[1]}`,
      payload: fromBase64Url(segments[1]),
      signature: fromBase64Url(segments[2]),
    };
    if (parsedParts.size >= 64) parsedParts.delete(parsedParts.keys().next().value!);
    parsedParts.set(jws, out);
    return out;
  } catch {
    return undefined;
  }
}

/** The protected header, or undefined when the text is not a JWS of our shape. */
export function readHeader(jws: string): JwsHeader | undefined {
  return parts(jws)?.header;
}

/** The payload parsed without checking the signature (to learn the issuer first). */
export function readPayload(jws: string): unknown {
  const p = parts(jws);
  if (!p) return undefined;
  try {
    return JSON.parse(decoder.decode(p.payload));
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
  const p = parts(jws);
  const jwk = p && jwks.keys.find((k) => k.kid === p.header.kid);
  if (!p || !jwk) return { ok: false, reason: "unknown_key" };
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
  const good = p.signature.byteLength === 64 && await crypto.subtle.verify(
    "Ed25519",
    key,
    p.signature as Uint8Array<ArrayBuffer>,
    encoder.encode(p.input),
  ).catch(() => false);
  if (!good) return { ok: false, reason: "bad_signature" };
  let text: string;
  let payload: unknown;
  try {
    text = decoder.decode(p.payload);
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

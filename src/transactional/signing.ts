/**
 * Signed tokens of transactional mail: tracking links (open pixel, click redirect), one-click
 * unsubscribe URLs (RFC 8058) and the VERP return path that matches bounces to their message.
 * All are HMAC-SHA-256 under a key derived from the gateway's token key with its own purpose
 * label, so a token can be neither forged nor turned into an open redirect.
 */
import type { Deps } from "../deps.ts";
import { fromBase64Url, purposeSecret, toBase64Url, toHex } from "../crypto.ts";

const encoder = new TextEncoder();
const keys = new WeakMap<Uint8Array, Promise<CryptoKey>>();

function keyFor(deps: Deps): Promise<CryptoKey> {
  let key = keys.get(deps.jwtKey);
  if (!key) {
    key = purposeSecret(deps.jwtKey, "postern tx v1").then((derived) =>
      crypto.subtle.importKey(
        "raw",
        derived as BufferSource,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      )
    );
    keys.set(deps.jwtKey, key);
  }
  return key;
}

async function mac(deps: Deps, text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await keyFor(deps), encoder.encode(text)));
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** What a tracking or unsubscribe token carries. */
export interface LinkClaims {
  /** Kind: o = open pixel, c = click, u = unsubscribe. */
  k: "o" | "c" | "u";
  /** The transactional message id. */
  e: string;
  /** The recipient, when the message had exactly one. */
  r?: string;
  /** The click's destination. */
  u?: string;
}

export async function signLink(deps: Deps, claims: LinkClaims): Promise<string> {
  const payload = toBase64Url(encoder.encode(JSON.stringify(claims)));
  const sig = (await mac(deps, `link.${payload}`)).slice(0, 16);
  return `${payload}.${toBase64Url(sig)}`;
}

/** The claims of a token this server signed, or undefined for anything else. */
export async function verifyLink(deps: Deps, token: string): Promise<LinkClaims | undefined> {
  const [payload, sig, extra] = token.split(".");
  if (!payload || !sig || extra !== undefined || token.length > 4096) return undefined;
  try {
    const expected = (await mac(deps, `link.${payload}`)).slice(0, 16);
    if (!equalBytes(expected, fromBase64Url(sig))) return undefined;
    const claims = JSON.parse(new TextDecoder().decode(fromBase64Url(payload))) as LinkClaims;
    if (!["o", "c", "u"].includes(claims.k) || typeof claims.e !== "string") return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

const VERP_LOCAL = /^bounces\+(em_[0-9a-f]{24})\.([0-9a-f]{16})$/i;

/** The signed return path of a message: `bounces+<emailId>.<mac>@<domain>`. */
export async function verpAddress(deps: Deps, emailId: string, domain: string): Promise<string> {
  const sig = toHex((await mac(deps, `verp.${emailId}`)).slice(0, 8));
  return `bounces+${emailId}.${sig}@${domain}`;
}

/** The message id of a signed return path this server made, else undefined. */
export async function parseVerp(deps: Deps, address: string): Promise<string | undefined> {
  const at = address.lastIndexOf("@");
  const m = VERP_LOCAL.exec(at > 0 ? address.slice(0, at) : address);
  if (!m) return undefined;
  const emailId = m[1].toLowerCase();
  const expected = toHex((await mac(deps, `verp.${emailId}`)).slice(0, 8));
  return expected === m[2].toLowerCase() ? emailId : undefined;
}

/**
 * `em_` + 24 hex digits: the creation time in milliseconds (12 digits), then 48 random bits.
 * Ids that grow with time keep the inserts into tx_messages and the tables keyed by its id at
 * the right edge of their indexes instead of scattering them over random pages (every commit
 * then writes fewer pages). The id is not a secret: links that carry it are signed.
 */
export function newEmailId(now = Date.now()): string {
  const time = Math.floor(now).toString(16).padStart(12, "0").slice(-12);
  return `em_${time}${toHex(crypto.getRandomValues(new Uint8Array(6)))}`;
}

/**
 * Access tokens: short-lived JWTs (RFC 7519, HS256 via jose) naming the account and the session.
 * Audience and issuer are checked on every request; the session must also still be live, so
 * logout takes effect at once. Refresh tokens are opaque random strings stored hashed.
 */
import { errors, jwtVerify, SignJWT } from "jose";
import { AppError } from "../errors.ts";

export const TOKEN_AUDIENCE = "postern-api";

export interface AccessClaims {
  accountId: number;
  sessionId: string;
  /** A protocol bridge's session for IMAP/POP3: mail routes only (see authenticate.ts). */
  mail?: boolean;
}

export async function signAccessToken(
  key: Uint8Array,
  issuer: string,
  claims: AccessClaims,
  ttlSeconds: number,
  nowMs: number,
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return await new SignJWT(
    claims.mail ? { sid: claims.sessionId, mail: true } : { sid: claims.sessionId },
  )
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(String(claims.accountId))
    .setIssuer(issuer)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}

export async function verifyAccessToken(
  key: Uint8Array,
  issuer: string,
  token: string,
  nowMs: number,
): Promise<AccessClaims> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ["HS256"],
      audience: TOKEN_AUDIENCE,
      issuer,
      currentDate: new Date(nowMs),
    });
    const accountId = Number(payload.sub);
    if (!Number.isSafeInteger(accountId) || typeof payload.sid !== "string") {
      throw new AppError(401, "token_invalid", "the access token lacks its claims");
    }
    return { accountId, sessionId: payload.sid, ...(payload.mail === true ? { mail: true } : {}) };
  } catch (e) {
    if (e instanceof AppError) throw e;
    const reason = e instanceof errors.JWTExpired
      ? "the access token has expired"
      : "the access token is invalid";
    throw new AppError(401, "token_invalid", reason, undefined, {
      "WWW-Authenticate": `Bearer error="invalid_token"`,
    });
  }
}

interface CachedClaims {
  claims: AccessClaims;
  expiresAtMs: number;
}

// Verified tokens per signing key: a JWT is checked once, then recognised until it expires
// (the session's liveness is still checked on every request by the caller).
const verifiedByKey = new WeakMap<Uint8Array, Map<string, CachedClaims>>();
const CACHE_LIMIT = 10_000;

export async function verifyAccessTokenCached(
  key: Uint8Array,
  issuer: string,
  token: string,
  nowMs: number,
): Promise<AccessClaims> {
  let cache = verifiedByKey.get(key);
  if (!cache) verifiedByKey.set(key, cache = new Map());
  const hit = cache.get(token);
  if (hit && hit.expiresAtMs > nowMs) return hit.claims;
  const claims = await verifyAccessToken(key, issuer, token, nowMs);
  const payload = JSON.parse(new TextDecoder().decode(
    Uint8Array.from(
      atob(token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")),
      (c) => c.charCodeAt(0),
    ),
  ));
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(token, { claims, expiresAtMs: Number(payload.exp) * 1000 });
  return claims;
}

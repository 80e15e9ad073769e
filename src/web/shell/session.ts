/**
 * The browser session: how pages hold a sign-in without ever letting script see the refresh
 * token. The contract every page (webmail, admin console, docs "try it") follows:
 *
 * - `POST /v1/auth/web/login` takes the same body as `POST /v1/auth/login` (password, then
 *   `totp` or `recoveryCode` when the answer is `totp_required`) and runs the same sign-in. The
 *   refresh token goes into the cookie {@link REFRESH_COOKIE} (`HttpOnly; Secure;
 *   SameSite=Strict; Path=/`, `__Host-` prefixed, so no subdomain can plant or read it), and a
 *   random CSRF token into {@link CSRF_COOKIE} (same flags). The JSON answer carries a
 *   short-lived access token and that CSRF token, never the refresh token.
 * - `POST /v1/auth/web/refresh` reads the refresh cookie, requires the CSRF token in the
 *   `x-postern-csrf` header (double submit, compared in constant time) and a same-origin request
 *   (`Sec-Fetch-Site: same-origin` when the browser sends it, else an `Origin` equal to the
 *   request's own), rotates the refresh token (the same rotation as `/v1/auth/refresh`) and
 *   answers a new access token. Pages keep access tokens in memory only and call the `/v1` JSON
 *   API with `Authorization: Bearer`, exactly as any other client: there is no cookie-authenticated
 *   API, so CSRF can only ever reach the three `/v1/auth/web/*` routes, which all check it.
 * - A page rendered by the gateway learns the CSRF token from `<meta name="postern-csrf">`, which
 *   the server fills from the request's own CSRF cookie (a cross-site page cannot read it).
 * - `POST /v1/auth/web/logout` (CSRF only) ends the cookie's session and clears both cookies;
 *   `DELETE /v1/auth/sessions` (bearer) ends every session of the account ("sign out
 *   everywhere").
 * - Client side, `/assets/shell.js` implements this: `Postern.api(method, path, body)` refreshes
 *   on start and on a 401, and sends the browser to `/signin?next=…` when the session is gone.
 * - Pages: render into `Layout` (layout.tsx) inside a router wrapped by `pageHeaders()`
 *   (headers.ts), put scripts and styles in src/web/assets/ (`deno task web:assets` bundles
 *   them), build DOM with `Postern.h()` (text, never HTML), and set `document.body.dataset.ready`
 *   once the first data is shown (test/fixtures/browser.ts waits for it).
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { AppError } from "../../errors.ts";
import { timingSafeEqual } from "../../crypto.ts";

export const REFRESH_COOKIE = "__Host-postern-rt";
export const CSRF_COOKIE = "__Host-postern-csrf";
export const CSRF_HEADER = "x-postern-csrf";

/** `Set-Cookie` value for one of the session cookies; `maxAge` 0 deletes it. */
export function sessionCookie(name: string, value: string, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;
}

/**
 * Refuses a request that did not come from a page of this origin: Fetch Metadata first (every
 * current browser sends it), `Origin` as the fallback. A request with neither (curl, a server) is
 * not a browser being tricked, but it also has no business with cookie routes, so it is refused.
 */
export function requireSameOrigin(c: Context): void {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) {
    if (site === "same-origin") return;
    throw new AppError(403, "cross_site", "this request must come from a page of this site");
  }
  const origin = c.req.header("origin");
  if (origin && origin === new URL(c.req.url).origin) return;
  throw new AppError(403, "cross_site", "this request must come from a page of this site");
}

/** The CSRF double-submit check: header equals cookie, both present, constant-time compare. */
export function requireCsrf(c: Context): void {
  requireSameOrigin(c);
  const cookie = getCookie(c, CSRF_COOKIE) ?? "";
  const header = c.req.header(CSRF_HEADER) ?? "";
  if (!cookie || !header || !timingSafeEqual(cookie, header)) {
    throw new AppError(403, "csrf_failed", `the ${CSRF_HEADER} header does not match the session`);
  }
}

/** The CSRF token a server-rendered page embeds for its script (empty when signed out). */
export function csrfTokenOf(c: Context): string {
  const token = getCookie(c, CSRF_COOKIE) ?? "";
  return /^[A-Za-z0-9_-]{16,128}$/.test(token) ? token : "";
}

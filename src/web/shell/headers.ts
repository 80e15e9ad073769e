/**
 * Security headers for every page the gateway renders: a strict Content-Security-Policy (CSP
 * Level 3: scripts, styles and connections from this origin only, nothing inline, no plugins, no
 * framing by others), `nosniff`, a referrer policy that never leaks a URL to another site, and
 * `no-store` so a signed-in page is not kept by shared caches.
 */
import { createMiddleware } from "hono/factory";

export interface PagePolicy {
  /** Extra `img-src` sources (e.g. `blob:` for attachment previews). */
  img?: string[];
  /** Extra `frame-src` sources. */
  frame?: string[];
}

/** The CSP of a gateway page: 'self' only, no 'unsafe-inline', no 'unsafe-eval'. */
export function pageCsp(policy: PagePolicy = {}): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: ${(policy.img ?? []).join(" ")}`.trim(),
    "font-src 'self'",
    "connect-src 'self'",
    `frame-src ${["'self'", ...(policy.frame ?? [])].join(" ")}`,
    "form-action 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Sets the page headers on every answer of the routes it wraps (unless a route set its own). */
export const pageHeaders = (policy: PagePolicy = {}) =>
  createMiddleware(async (c, next) => {
    await next();
    const h = c.res.headers;
    if (!h.has("content-security-policy")) h.set("content-security-policy", pageCsp(policy));
    h.set("x-content-type-options", "nosniff");
    h.set("referrer-policy", "no-referrer");
    h.set("cross-origin-opener-policy", "same-origin");
    h.set("cross-origin-resource-policy", "same-origin");
    h.set("permissions-policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()");
    if (!h.has("x-frame-options")) h.set("x-frame-options", "DENY");
    if (!h.has("cache-control")) h.set("cache-control", "no-store");
  });

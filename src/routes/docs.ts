/**
 * `/docs`: the API reference — `/openapi.json` rendered by Scalar's standalone bundle, served by
 * the gateway itself (no CDN, so it works offline and leaks nothing). The bundle comes through
 * the static-assets port (`Deps.assets`: node_modules on Deno/Bun, the assets binding on a
 * Worker): the gateway never reads files, so the same routes run on a Worker. Asset URLs carry
 * the content hash and are cached for good; the page itself is small, built per request with a
 * fresh CSP nonce, and never cached.
 *
 * Content-Security-Policy (what Scalar needs, and no more): scripts only from this origin (the
 * bundle and a static init script: no inline script, no `'unsafe-eval'` — zod inside Scalar
 * probes for eval once and, refused, validates without generated code); styles from this origin
 * plus the `<style>` elements Scalar injects, which carry the nonce it reads from
 * `<meta property="csp-nonce">` (two that do not are allowed by hash), and style attributes
 * (`'unsafe-inline'` under `style-src-attr` only: Vue binds element styles); images from here
 * and `data:`/`blob:` (icons, downloads); fonts from here (Scalar's web fonts are turned off);
 * `connect-src 'self'` (the document and "Test request"); no frames, objects or form targets
 * elsewhere; the page may not be framed.
 */
import { Hono } from "hono";
import { compress } from "hono/compress";
import type { Deps } from "../deps.ts";
import { problemResponse } from "../http/problem.ts";
import { randomToken, sha256Hex } from "../crypto.ts";

/** The asset name of the renderer bundle (`@scalar/api-reference` dist/browser/standalone.js). */
export const DOCS_RENDERER = "scalar-api-reference.js";

/**
 * Scalar's options. Off: everything that would call scalar.com (telemetry, the AI agent, MCP,
 * the request proxy, the fonts CDN) — the gateway's own CSP would block it anyway.
 */
const INIT_JS = `"use strict";
Scalar.createApiReference("#reference", {
  url: "/openapi.json",
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  persistAuth: false,
  showOperationId: true,
  showDeveloperTools: "never",
  hideClientButton: false,
  defaultOpenAllTags: false,
  orderRequiredPropertiesFirst: true,
});
`;

const FALLBACK_CSS = "body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;" +
  "padding:0 1rem;color:#1d2330}code{background:#eef1f5;padding:0 .25rem;border-radius:3px}";

/** A hash-named URL path for an asset. */
const assetPath = (stem: string, hash: string) => `/docs/assets/${stem}.${hash.slice(0, 16)}.js`;

/**
 * Two `<style>` elements Scalar 1.76.0 adds without the nonce, allowed by their hash instead of
 * `'unsafe-inline'`: vue-sonner's toast styles, and the default theme as rendered for the options
 * in INIT_JS. Another Scalar version or other options change them; test/web_docs_test.ts fails
 * on any CSP violation and its message names the new hash.
 */
const SCALAR_STYLE_HASHES = [
  "sha256-l/2OpPg0d+2VLTLgwjf5mQo2CYwHDEqdj5TjbfEyVJI=",
  "sha256-T13Uev3xCax2N28XaoAE8DOzQZKvPp7ZQVAi1iRREjo=",
];

export function docsCsp(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${nonce}' ${SCALAR_STYLE_HASHES.map((h) => `'${h}'`).join(" ")}`,
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

export function docsRoutes(deps: Pick<Deps, "assets">) {
  const app = new Hono();
  const initHash = sha256Hex(INIT_JS);
  const renderer = () => deps.assets?.get(DOCS_RENDERER) ?? Promise.resolve(undefined);

  app.get("/docs", async (c) => {
    const bundle = await renderer();
    const headers = {
      "cache-control": "no-cache",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
    };
    if (!bundle) {
      // A host without the renderer bound (e.g. a Worker deployed without its static assets).
      const nonce = randomToken(16);
      return c.html(
        `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
          `<meta name="viewport" content="width=device-width, initial-scale=1">` +
          `<title>Postern API reference</title><style nonce="${nonce}">${FALLBACK_CSS}</style>` +
          `</head><body><main><h1>Postern API reference</h1>` +
          `<p>This server has no renderer for the reference: its host did not bind the ` +
          `static assets (<code>${DOCS_RENDERER}</code>, from ` +
          `<code>@scalar/api-reference</code>).` +
          `</p><p>The OpenAPI 3.1 document itself is at <a href="/openapi.json">/openapi.json` +
          `</a>; any OpenAPI viewer or client generator can read it.</p></main></body></html>`,
        503,
        { ...headers, "content-security-policy": docsCsp(nonce) },
      );
    }
    const nonce = randomToken(16);
    return c.html(
      `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta property="csp-nonce" content="${nonce}">
<title>Postern API reference</title>
</head>
<body>
<div id="reference"><noscript>The reference needs JavaScript; the document is at
<a href="/openapi.json">/openapi.json</a>.</noscript></div>
<script src="${assetPath("scalar", bundle.hash)}"></script>
<script src="${assetPath("init", await initHash)}"></script>
</body>
</html>
`,
      200,
      { ...headers, "content-security-policy": docsCsp(nonce) },
    );
  });

  // 4.7 MB of script is about 1.3 MB gzipped; a Worker's assets are compressed by the platform.
  app.use("/docs/assets/*", compress());
  app.get("/docs/assets/:file", async (c) => {
    const match = c.req.param("file").match(/^(scalar|init)\.([0-9a-f]{16})\.js$/);
    const asset = match?.[1] === "init"
      ? { hash: await initHash, body: () => Promise.resolve(INIT_JS) }
      : match
      ? await renderer()
      : undefined;
    if (!match || !asset || asset.hash.slice(0, 16) !== match[2]) {
      return problemResponse(404, "not_found", "no such asset (or not this version of it)");
    }
    // Weak: the gzip and identity forms are the same content, not the same bytes.
    const etag = `W/"${asset.hash.slice(0, 32)}"`;
    const headers = {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=31536000, immutable",
      etag,
    };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(await asset.body() as ArrayBuffer, 200, headers);
  });
  return app;
}

/**
 * `/docs`: the API reference page. Its script and styles are served by the gateway itself (no
 * CDN, so it works offline); it renders `/openapi.json` in the browser.
 */
import { Hono } from "hono";
import { DOCS_CSS, DOCS_HTML, DOCS_JS } from "./docs_assets.ts";

export function docsRoutes() {
  const app = new Hono();
  const cache = { "cache-control": "public, max-age=300" };
  app.get("/docs", (c) =>
    c.html(DOCS_HTML, 200, {
      ...cache,
      "content-security-policy":
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
    }));
  app.get(
    "/docs/assets/docs.js",
    (c) => c.body(DOCS_JS, 200, { ...cache, "content-type": "text/javascript; charset=utf-8" }),
  );
  app.get(
    "/docs/assets/docs.css",
    (c) => c.body(DOCS_CSS, 200, { ...cache, "content-type": "text/css; charset=utf-8" }),
  );
  return app;
}

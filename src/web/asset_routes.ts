/**
 * `GET /assets/{name}`: the pages' scripts and styles from the generated bundle (assets_gen.ts,
 * built by scripts/gen_web_assets.ts). A hashed name (`shell.1a2b3c4d5e6f.js`) is immutable and
 * cached for a year; the plain name answers too, revalidated each time, for hand-typed URLs.
 * Sent gzipped when the browser accepts it.
 */
import { Hono } from "hono";
import { compress } from "hono/compress";
import { WEB_ASSETS } from "./assets_gen.ts";

export interface WebAsset {
  type: string;
  /** The first 12 hex digits of the body's SHA-256. */
  hash: string;
  body: string;
}

/** The hashed URL of an asset, for pages to link (throws on a name with no asset: a typo). */
export function assetUrl(name: string): string {
  const asset = WEB_ASSETS[name];
  if (!asset) throw new Error(`no web asset ${name}`);
  const dot = name.lastIndexOf(".");
  return `/assets/${name.slice(0, dot)}.${asset.hash}${name.slice(dot)}`;
}

export function assetRoutes() {
  const app = new Hono();
  // gzip for browsers that take it (the webmail's first load: about a quarter of the bytes).
  app.use("/assets/*", compress());
  app.get("/assets/:path{.+}", (c) => {
    const path = c.req.param("path");
    const hashed = path.match(/^(.+)\.([0-9a-f]{12})(\.[a-z]+)$/);
    const name = hashed ? hashed[1] + hashed[3] : path;
    const asset = WEB_ASSETS[name];
    if (!asset || (hashed && asset.hash !== hashed[2])) return c.notFound();
    // Weak: the gzip and identity forms are the same content, not the same bytes.
    const etag = `W/"${asset.hash}"`;
    const headers: Record<string, string> = {
      "content-type": asset.type,
      etag,
      "cache-control": hashed ? "public, max-age=31536000, immutable" : "no-cache",
    };
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(asset.body, 200, headers);
  });
  return app;
}

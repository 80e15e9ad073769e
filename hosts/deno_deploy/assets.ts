/**
 * The static-assets port (src/ports.ts `AssetPort`) for Deno Deploy: the API reference's
 * renderer is bundled with the deployment as a module of bytes (`import … with { type: "bytes" }`,
 * deno.json `"unstable": ["raw-imports"]`), so `/docs` works with no file-system permission and
 * never from a CDN (DESIGN.md). The import is dynamic, with a literal specifier that
 * `deno deploy` sees and uploads: an isolate loads the 5 MB file only when `/docs` is opened,
 * then keeps it with its hash.
 */
import { sha256Hex } from "../../src/crypto.ts";
import { cachedAssets } from "../../src/http/asset_cache.ts";
import type { AssetPort, StaticAsset } from "../../src/ports.ts";
import { DOCS_RENDERER } from "../../src/routes/docs.ts";

/** Asset name → its bundled bytes and media type. */
const FILES: Record<string, { load(): Promise<Uint8Array>; contentType: string }> = {
  [DOCS_RENDERER]: {
    load: async () =>
      (await import("../../node_modules/@scalar/api-reference/dist/browser/standalone.js", {
        with: { type: "bytes" },
      })).default as Uint8Array,
    contentType: "text/javascript; charset=utf-8",
  },
};

export function bundledAssets(): AssetPort {
  return cachedAssets(async (name): Promise<StaticAsset | undefined> => {
    const file = FILES[name];
    if (!file) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = await file.load();
    } catch {
      // Not deployed with the bundle (a trimmed upload): /docs says it has no renderer.
      return undefined;
    }
    return {
      hash: await sha256Hex(bytes),
      contentType: file.contentType,
      body: () => Promise.resolve(bytes.slice()),
    };
  });
}

/**
 * The static-assets port for Deno and Bun hosts: the files the gateway names (the API
 * reference's renderer) come from the installed npm packages in node_modules. Each file's
 * SHA-256 is computed on first use and kept; its bytes are read again for every request, so
 * a 5 MB bundle is not held in memory by a server whose `/docs` nobody opens. A file that is
 * not there (a compiled binary, a trimmed install) is simply absent, and `/docs` says so.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { DOCS_RENDERER } from "../../src/routes/docs.ts";
import type { AssetPort, StaticAsset } from "../../src/ports.ts";
import { sha256Hex } from "../../src/crypto.ts";
import { cachedAssets } from "../../src/http/asset_cache.ts";

const NODE_MODULES = new URL("../../node_modules/", import.meta.url);

/** Asset name → file inside node_modules, and its media type. */
const FILES: Record<string, { path: string; contentType: string }> = {
  [DOCS_RENDERER]: {
    path: "@scalar/api-reference/dist/browser/standalone.js",
    contentType: "text/javascript; charset=utf-8",
  },
};

export function nodeModulesAssets(root: URL = NODE_MODULES): AssetPort {
  return cachedAssets(async (name): Promise<StaticAsset | undefined> => {
    const file = FILES[name];
    if (!file) return undefined;
    const path = fileURLToPath(new URL(file.path, root));
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch {
      return undefined;
    }
    const hash = await sha256Hex(bytes);
    return {
      hash,
      contentType: file.contentType,
      body: async () => new Uint8Array(await readFile(path)),
    };
  });
}

/**
 * The static-assets port (ports.ts `AssetPort`) over a fetch-style binding: a Worker's static
 * assets (`env.ASSETS`, issue 17) or any origin that serves the files by name. The deploy step
 * puts each file at `/<name>` (e.g. `/scalar-api-reference.js`, copied from
 * node_modules/@scalar/api-reference/dist/browser/standalone.js); the content hash that names
 * its URL is computed from the bytes on first use in each isolate and kept, so it always matches
 * what is served. Web APIs only.
 */
import { sha256Hex } from "../crypto.ts";
import type { AssetPort, StaticAsset } from "../ports.ts";
import { DOCS_RENDERER } from "../routes/docs.ts";

/** What a Worker's assets binding (a Fetcher) offers. */
export interface AssetFetcher {
  fetch(request: Request): Promise<Response>;
}

/** Media types of the assets the gateway names. */
const TYPES: Record<string, string> = {
  [DOCS_RENDERER]: "text/javascript; charset=utf-8",
};

export function fetcherAssets(fetcher: AssetFetcher, origin = "https://assets.invalid"): AssetPort {
  const known = new Map<string, Promise<StaticAsset | undefined>>();
  const open = async (name: string): Promise<Response | undefined> => {
    const res = await fetcher.fetch(new Request(`${origin}/${encodeURIComponent(name)}`));
    if (res.ok) return res;
    await res.body?.cancel();
    return undefined;
  };
  const load = async (name: string): Promise<StaticAsset | undefined> => {
    const contentType = TYPES[name];
    const res = contentType ? await open(name) : undefined;
    if (!res) return undefined;
    const hash = await sha256Hex(new Uint8Array(await res.arrayBuffer()));
    return {
      hash,
      contentType: contentType!,
      body: async () => (await open(name))?.body ?? new Uint8Array(0),
    };
  };
  return {
    get(name) {
      let entry = known.get(name);
      if (!entry) {
        // A failed lookup is not kept: the binding may answer on the next request.
        entry = load(name).then((asset) => {
          if (!asset) known.delete(name);
          return asset;
        });
        known.set(name, entry);
      }
      return entry;
    },
  };
}

/**
 * An `AssetPort` (src/ports.ts) that looks each name up once per process or isolate and keeps
 * the answer (the asset's hash and how to read it, or its absence): the files a host ships do not
 * change while it runs, and hashing a 5 MB bundle on every `/docs` would be waste. Concurrent
 * first requests share one lookup.
 */
import type { AssetPort, StaticAsset } from "../ports.ts";

export function cachedAssets(load: (name: string) => Promise<StaticAsset | undefined>): AssetPort {
  const known = new Map<string, Promise<StaticAsset | undefined>>();
  return {
    get(name) {
      let entry = known.get(name);
      if (!entry) {
        entry = load(name);
        known.set(name, entry);
      }
      return entry;
    },
  };
}

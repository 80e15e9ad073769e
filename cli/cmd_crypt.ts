/**
 * `postern keys rotate-data` and `postern keys reencrypt`: encryption at rest (src/crypt/).
 * rotate-data makes a new key-encryption key version, re-wraps every account data key under it
 * and gives each account a new data key for new mail; reencrypt re-seals, in bounded slices,
 * what is still plaintext (stored before encryption, or with it off) or sealed under a retired
 * key. Both run against the store the configuration names, with its master key.
 */
import { silentLogger } from "../src/ports.ts";
import { type ReencryptCursor, reencryptSlice, rotateDataKeys } from "../src/crypt/rotation.ts";
import { flag, type Invocation, str, usageError } from "./args.ts";
import { loadConfig, masterKey, printJson, withStore } from "./context.ts";
import { buildDeps } from "../hosts/process/deps_node.ts";
import { rawSql, type Store } from "../src/store/store.ts";

function limitOf(values: Invocation["values"]): number {
  const text = str(values, "limit") ?? "500";
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw usageError(`--limit: expected a count, got ${text}`);
  }
  return Number(text);
}

/** Slices of `limit` until the pass is done, or only one with `--once`. */
async function reencryptAll(store: Store, limit: number, once: boolean) {
  let cursor: ReencryptCursor | undefined = { blob: "", message: 0 };
  const total = { blobs: 0, messages: 0, tokens: 0, slices: 0 };
  while (cursor) {
    const slice = await reencryptSlice(store, limit, cursor);
    total.blobs += slice.blobs;
    total.messages += slice.messages;
    total.tokens += slice.tokens;
    total.slices++;
    cursor = slice.cursor;
    if (once) break;
  }
  return { ...total, done: cursor === undefined };
}

export async function keysRotateData({ values }: Invocation): Promise<void> {
  const limit = limitOf(values);
  const config = await loadConfig(values);
  const key = await masterKey(config);
  await withStore(config, async (store) => {
    await buildDeps(config, store, key, silentLogger); // gives the store its key vault
    const rotation = await rotateDataKeys(store);
    const reencrypted = flag(values, "reencrypt")
      ? await reencryptAll(store, limit, flag(values, "once"))
      : undefined;
    if (flag(values, "json")) return printJson({ ...rotation, reencrypted });
    console.log(
      `key-encryption key version ${rotation.kekVersion}: ${rotation.rewrapped} data keys ` +
        `re-wrapped, ${rotation.newDataKeys} accounts given a new data key`,
    );
    if (reencrypted) {
      console.log(
        `re-sealed ${reencrypted.blobs} blobs and ${reencrypted.messages} messages` +
          (reencrypted.done ? "" : " (more left: run `postern keys reencrypt`)"),
      );
    }
  });
}

export async function keysReencrypt({ values }: Invocation): Promise<void> {
  const limit = limitOf(values);
  const config = await loadConfig(values);
  const key = await masterKey(config);
  await withStore(config, async (store) => {
    const deps = await buildDeps(config, store, key, silentLogger);
    if (!deps.config.encryptAtRest) {
      throw usageError(
        "encryption at rest is off (POSTERN_ENCRYPT_AT_REST=false): nothing to seal",
      );
    }
    const result = await reencryptAll(store, limit, flag(values, "once"));
    // The embedded file keeps replaced plaintext in freed pages and old WAL frames until they
    // are rewritten: --vacuum rewrites the file once the pass is done.
    const vacuum = flag(values, "vacuum") && result.done && store.client.protocol === "file";
    if (vacuum) {
      await rawSql(store.db).run("VACUUM");
      await rawSql(store.db).run("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    if (flag(values, "json")) return printJson({ ...result, vacuumed: vacuum });
    console.log(
      `re-sealed ${result.blobs} blobs and ${result.messages} messages, hashed ` +
        `${result.tokens} spam filter tokens in ${result.slices} ` +
        `slices${result.done ? "" : " (more left: run it again)"}`,
    );
  });
}

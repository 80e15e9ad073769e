/**
 * `postern backup --out FILE|DIR [--gateway URL]` and `postern restore FROM`: an online snapshot
 * of the whole store (src/backup/: format, per-engine consistency) into a tar file or a folder,
 * and back into an empty data folder (or an empty remote database). Without --gateway the CLI
 * opens the configured store itself (the embedded file or remote libSQL); with it, it saves what
 * the gateway's `GET /v1/admin/backup` streams (the only way to a D1 + R2 store on a Worker).
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { SecretBox } from "../src/crypto.ts";
import { dumpBackup } from "../src/backup/dump.ts";
import { MANIFEST, type Manifest } from "../src/backup/format.ts";
import {
  applyBackup,
  assertEmptyStore,
  BackupError,
  type Entry,
  type EntrySource,
  verifyBackup,
} from "../src/backup/restore.ts";
import { libsqlSnapshot, type SnapshotReader } from "../src/backup/snapshot.ts";
import { readTar } from "../src/backup/tar.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import { Vault } from "../src/crypt/vault.ts";
import { objectAsParts } from "../src/crypt/sealed_blob.ts";
import { fileSnapshot } from "../hosts/process/file_snapshot.ts";
import { openStore } from "../hosts/process/open_store.ts";
import { isRemoteDatabaseUrl, openRemoteClient } from "../hosts/process/remote_libsql.ts";
import { CliError, EXIT_FAILED, flag, type Invocation, str, usageError } from "./args.ts";
import {
  env,
  existingMasterKey,
  loadConfig,
  masterKey,
  paths,
  printJson,
  writeSecretFile,
} from "./context.ts";

/** A file read as a web stream, 1 MiB at a time (the same on Deno and Bun). */
function fileStream(path: string): ReadableStream<Uint8Array> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  return new ReadableStream({
    async pull(controller) {
      handle ??= await open(path, "r");
      const buffer = new Uint8Array(1024 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) {
        await handle.close();
        controller.close();
      } else {
        controller.enqueue(buffer.subarray(0, bytesRead));
      }
    },
    async cancel() {
      await handle?.close();
    },
  });
}

const isDir = async (path: string) => (await stat(path).catch(() => undefined))?.isDirectory();

/** The entries of a backup file or folder (the folder's parts in manifest order, manifest last). */
async function entriesOf(from: string): Promise<EntrySource> {
  if (!await isDir(from)) {
    await stat(from).catch(() => {
      throw usageError(`${from}: no such backup file or folder`);
    });
    return () => readTar(fileStream(from));
  }
  return async function* (): AsyncIterable<Entry> {
    let text: string;
    try {
      text = await readFile(join(from, MANIFEST), "utf8");
    } catch {
      throw new BackupError(MANIFEST, `missing from the folder ${from}`);
    }
    let names: string[] = [];
    try {
      names = (JSON.parse(text) as Manifest).parts.map((p) => p.name);
    } catch {
      // verifyBackup names what is wrong with it.
    }
    for (const name of names) {
      if (name.includes("..")) throw new BackupError(name, "a part name may not leave the folder");
      const data = await readFile(join(from, name)).catch(() => undefined);
      if (data) yield { name, data: new Uint8Array(data) };
    }
    yield { name: MANIFEST, data: new TextEncoder().encode(text) };
  };
}

/** Writes `stream` (tar octets) to a file, or unpacked into a folder; the file appears whole. */
async function save(stream: ReadableStream<Uint8Array>, out: string, folder: boolean) {
  if (folder) {
    await mkdir(out, { recursive: true, mode: 0o700 });
    if ((await readdir(out)).length > 0) throw usageError(`${out}: the folder is not empty`);
    for await (const entry of readTar(stream)) {
      const path = join(out, entry.name);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, entry.data, { mode: 0o600 });
    }
    return;
  }
  if (await stat(out).catch(() => undefined)) throw usageError(`${out} exists already`);
  const partial = `${out}.partial`;
  const handle = await open(partial, "w", 0o600);
  try {
    for await (const chunk of stream) await handle.write(chunk);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await rm(partial, { force: true });
    throw e;
  }
  await handle.close();
  await rename(partial, out);
}

async function gatewayStream(url: string, apiKey: string): Promise<ReadableStream<Uint8Array>> {
  const target = new URL("/v1/admin/backup", url);
  const res = await fetch(target, { headers: { authorization: `Bearer ${apiKey}` } });
  if (!res.ok || !res.body) {
    const detail = await res.text().catch(() => "");
    throw new CliError(`${target}: ${res.status} ${res.statusText} ${detail}`.trim(), EXIT_FAILED);
  }
  return res.body;
}

async function snapshotFor(databaseUrl: string, authToken?: string): Promise<SnapshotReader> {
  if (databaseUrl.startsWith("file:")) {
    const path = databaseUrl.slice("file:".length);
    if (!await stat(path).catch(() => undefined)) {
      throw new CliError(`${path}: no database to back up`, EXIT_FAILED);
    }
    return fileSnapshot(path);
  }
  if (!isRemoteDatabaseUrl(databaseUrl)) {
    throw usageError(`cannot back up ${databaseUrl}: use a file: or remote libSQL URL`);
  }
  const client = await openRemoteClient(databaseUrl, authToken);
  const reader = await libsqlSnapshot(client, "libsql");
  return { ...reader, close: () => reader.close().finally(() => client.close()) };
}

export async function backupCommand({ values }: Invocation) {
  const out = str(values, "out");
  if (!out) throw usageError("--out FILE|DIR is required");
  const folder = out.endsWith("/") || !!await isDir(out);
  const gateway = str(values, "gateway");
  let stream: ReadableStream<Uint8Array>;
  if (gateway) {
    const apiKey = str(values, "api-key") ?? env().POSTERN_API_KEY;
    if (!apiKey) throw usageError("--gateway needs an admin API key: --api-key or POSTERN_API_KEY");
    stream = await gatewayStream(gateway, apiKey);
  } else {
    const config = await loadConfig(values);
    const { databaseUrl } = paths(config);
    const secrets = await SecretBox.fromMasterKey(await masterKey(config));
    const { API_VERSION } = await import("../src/app.ts");
    stream = dumpBackup({
      reader: await snapshotFor(databaseUrl, config.databaseAuthToken),
      secrets,
      posternVersion: API_VERSION,
      now: () => Date.now(),
    });
  }
  await save(stream, resolve(out), folder);
  // Read back what was written: a transfer cut short or a full disk is found now, not at restore.
  const manifest = await verifyBackup(await entriesOf(resolve(out)));
  const rows = manifest.tables.reduce((n, t) => n + t.rows, 0);
  const bytes = manifest.parts.reduce((n, p) => n + p.bytes, 0);
  const summary = {
    path: resolve(out),
    format: folder ? "folder" : "tar",
    engine: manifest.engine,
    consistency: manifest.consistency,
    migration: manifest.migrations.at(-1),
    tables: manifest.tables.length,
    rows,
    parts: manifest.parts.length,
    bytes,
  };
  if (flag(values, "json")) return printJson(summary);
  console.log(
    `backup of ${rows} rows in ${summary.tables} tables (${bytes} octets, ${summary.parts} ` +
      `parts, ${manifest.engine}) written to ${summary.path}`,
  );
  console.log(`consistency: ${manifest.consistency}`);
}

export async function restoreCommand({ values, positionals }: Invocation) {
  const from = resolve(positionals[0]);
  const config = await loadConfig(values);
  const { dataDir, databaseUrl, databaseLabel, masterKeyFile } = paths(config);
  const keyFile = str(values, "master-key-file");
  const key = keyFile
    ? (await readFile(keyFile, "utf8")).trim()
    : config.masterKey ?? await existingMasterKey(config);
  if (!key) {
    throw usageError(
      "restore needs the master key the backup was made with: --master-key-file FILE or " +
        "POSTERN_MASTER_KEY",
    );
  }
  const file = databaseUrl.startsWith("file:");
  if (file) {
    const present = await readdir(dataDir).catch(() => [] as string[]);
    if (present.length > 0) {
      throw new CliError(
        `${dataDir} is not empty (${present.slice(0, 3).join(", ")}${
          present.length > 3 ? ", …" : ""
        }): restore only into an empty data folder (POSTERN_DATA_DIR)`,
        3,
      );
    }
  }
  const source = await entriesOf(from);
  const secrets = await SecretBox.fromMasterKey(key);
  let manifest: Manifest;
  try {
    manifest = await verifyBackup(source, secrets);
  } catch (e) {
    if (e instanceof BackupError) throw new CliError(`refused: ${e.message}`, EXIT_FAILED);
    throw e;
  }
  if (!file) {
    const client = await openRemoteClient(databaseUrl, config.databaseAuthToken);
    try {
      await assertEmptyStore(client);
    } catch (e) {
      throw new CliError(`${databaseLabel}: ${(e as Error).message}`, 3);
    } finally {
      client.close();
    }
  }
  const store = await openStore(databaseUrl, {
    migrate: false,
    authToken: config.databaseAuthToken,
  });
  let summary;
  try {
    // Sealed bodies from a Worker's R2 go into rows and chunks as parts (crypt/sealed_blob.ts),
    // opened with the data keys the backup's own crypt_keys hold under this master key.
    store.useVault(new Vault(store, key, false));
    summary = await applyBackup(
      store.unserializedClient,
      source,
      manifest,
      MIGRATIONS,
      (sha, sealed, size) => objectAsParts(store.db, sha, sealed, size),
    );
  } catch (e) {
    if (e instanceof BackupError) throw new CliError(`refused: ${e.message}`, EXIT_FAILED);
    throw e;
  } finally {
    store.close();
  }
  // The restored server starts with the key its secrets are sealed with.
  if (keyFile && !config.masterKey) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeSecretFile(masterKeyFile, key + "\n");
  }
  const result = { from, to: databaseLabel, createdAt: manifest.createdAt, ...summary };
  if (flag(values, "json")) return printJson(result);
  console.log(
    `restored ${summary.rows} rows in ${summary.tables} tables (backup of ${manifest.createdAt}, ` +
      `${manifest.engine}) into ${databaseLabel}` +
      (summary.migrated.length ? `; then applied ${summary.migrated.join(", ")}` : ""),
  );
  if (summary.danglingReferences > 0) {
    console.error(
      `warning: ${summary.danglingReferences} rows refer to rows the backup does not hold ` +
        `(${manifest.consistency})`,
    );
  }
}

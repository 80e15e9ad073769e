/**
 * Checks a backup (format.ts) and brings it into an empty store, over any libSQL client (the
 * embedded file or a remote libSQL server).
 *
 * Two passes over the entries. `verifyBackup` reads everything first and writes nothing: every
 * part's size and SHA-256 against the manifest (a part missing, extra, truncated or altered is
 * refused by name), then the key check — the manifest's digest sealed with the master key — so
 * a wrong master key or an edited manifest is refused before a row is written. `applyBackup`
 * then applies the migrations the backup was written under, copies the rows with the triggers
 * set aside (they would log the restore as JMAP changes and bump counters the backup already
 * holds), puts the triggers and the AUTOINCREMENT counters back, and applies the migrations
 * this Postern has beyond the backup's: an older backup comes up on the newer schema.
 */
import type { Client, InStatement } from "@libsql/client/web";
import type { SecretBox } from "../crypto.ts";
import { toHex } from "../crypto.ts";
import { BLOB_CHUNK_BYTES } from "../services/blob_chunks.ts";
import { migrate, type Migration } from "../store/migrate.ts";
import { decodeRow, FORMAT, FORMAT_VERSION, MANIFEST, Manifest, manifestBody } from "./format.ts";
import { TarError } from "./tar.ts";
import { isSealed } from "../crypt/sealed_part.ts";

/** A backup refused, naming the part (or `manifest.json`) that failed. */
export class BackupError extends Error {
  constructor(readonly part: string, message: string) {
    super(`${part}: ${message}`);
  }
}

export interface Entry {
  name: string;
  data: Uint8Array;
}

/** The backup's entries in order, manifest last; called once per pass. */
export type EntrySource = () => AsyncIterable<Entry>;

const decoder = new TextDecoder();

async function digest(bytes: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
}

/**
 * Pass one: every checksum, then the key check (left out without `secrets`: a backup being
 * saved is checked for damage in transit by a CLI that may not hold the master key).
 */
export async function verifyBackup(source: EntrySource, secrets?: SecretBox): Promise<Manifest> {
  const seen = new Map<string, { bytes: number; sha256: string }>();
  let manifestText: string | undefined;
  try {
    for await (const entry of source()) {
      if (manifestText !== undefined) {
        throw new BackupError(entry.name, "found after manifest.json, which must come last");
      }
      if (entry.name === MANIFEST) manifestText = decoder.decode(entry.data);
      else seen.set(entry.name, { bytes: entry.data.byteLength, sha256: await digest(entry.data) });
    }
  } catch (e) {
    if (e instanceof TarError) throw new BackupError("(tar)", e.message);
    throw e;
  }
  if (manifestText === undefined) {
    throw new BackupError(MANIFEST, "missing: the file is truncated or not a Postern backup");
  }
  let manifest: Manifest;
  try {
    const parsed = Manifest.safeParse(JSON.parse(manifestText));
    if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? "invalid");
    manifest = parsed.data;
  } catch (e) {
    throw new BackupError(MANIFEST, `not a Postern backup manifest (${(e as Error).message})`);
  }
  if (manifest.format !== FORMAT || manifest.formatVersion > FORMAT_VERSION) {
    throw new BackupError(
      MANIFEST,
      `format ${manifest.format} version ${manifest.formatVersion} is newer than this Postern ` +
        `reads (${FORMAT_VERSION}); restore with Postern ${manifest.posternVersion} or later`,
    );
  }
  for (const part of manifest.parts) {
    const got = seen.get(part.name);
    if (!got) throw new BackupError(part.name, "missing from the backup");
    if (got.bytes !== part.bytes || got.sha256 !== part.sha256) {
      throw new BackupError(
        part.name,
        `checksum mismatch (${got.bytes} octets, SHA-256 ${got.sha256}; the manifest says ` +
          `${part.bytes} octets, ${part.sha256}): the part was altered or damaged`,
      );
    }
    seen.delete(part.name);
  }
  const extra = [...seen.keys()][0];
  if (extra) throw new BackupError(extra, "not listed in the manifest");
  if (!secrets) return manifest;
  let sealedDigest: string;
  try {
    sealedDigest = await secrets.open(manifest.keyCheck);
  } catch {
    throw new BackupError(
      MANIFEST,
      "the master key does not match the one this backup was made with: its private keys and " +
        "secrets are sealed with that key, so restore with it (POSTERN_MASTER_KEY or " +
        "--master-key-file)",
    );
  }
  if (sealedDigest !== await digest(new TextEncoder().encode(manifestBody(manifest)))) {
    throw new BackupError(MANIFEST, "altered after the backup was made (its key check fails)");
  }
  return manifest;
}

export interface RestoreSummary {
  tables: number;
  rows: number;
  objects: number;
  /** Migrations applied after the rows, because this Postern is newer than the backup. */
  migrated: string[];
  /** Rows whose references point nowhere (possible only in a D1 backup, which is paged). */
  danglingReferences: number;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Refuses a store that holds any table already: restore writes into an empty one only. */
export async function assertEmptyStore(client: Client): Promise<void> {
  const rs = await client.execute(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' " +
      "ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'libsql\\_%' " +
      "ESCAPE '\\' LIMIT 1",
  );
  if (rs.rows.length > 0) {
    throw new BackupError(
      "(target)",
      `the target database is not empty (it has the table ${rs.rows[0][0]}); restore only ` +
        "into an empty data folder or an empty database",
    );
  }
}

/** Pass two: the rows of a verified backup into the empty store behind `client`. */
export async function applyBackup(
  client: Client,
  source: EntrySource,
  manifest: Manifest,
  all: Migration[],
  /**
   * A sealed object (encryption at rest, crypt/sealed_blob.ts) as the sealed parts of a store
   * without an object store, for its `size` bytes: its segments are not parts, so they cannot
   * go into the row and its chunks as they are. Called after the tables (keys included) are in.
   */
  objectAsParts?: (sha256: string, sealed: Uint8Array, size: number) => Promise<Uint8Array[]>,
): Promise<RestoreSummary> {
  const known = all.map((m) => m.tag);
  manifest.migrations.forEach((tag, i) => {
    if (known[i] !== tag) {
      throw new BackupError(
        MANIFEST,
        `the backup was written under migration ${tag}, which this Postern ` +
          `(${known.length} migrations) does not have at that place: restore it with Postern ` +
          `${manifest.posternVersion} or later`,
      );
    }
  });
  await assertEmptyStore(client);
  await migrate(client, all.slice(0, manifest.migrations.length));
  const triggers = (await client.execute(
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY rowid",
  )).rows.map((r) => ({ name: String(r[0]), sql: String(r[1]) }));
  // The rows the migrations seed (counters, singletons) give way to the backup's own.
  await client.batch([
    ...triggers.map((t) => `DROP TRIGGER ${quote(t.name)}`),
    ...manifest.tables.toReversed().map((t) => `DELETE FROM ${quote(t.name)}`),
  ], "write");
  const parts = new Map(manifest.parts.map((p) => [p.name, p]));
  const counts = new Map<string, number>();
  let objects = 0;
  for await (const entry of source()) {
    const part = parts.get(entry.name);
    if (!part) continue;
    if (part.table) {
      const text = decoder.decode(entry.data);
      const lines = text.split("\n").filter((l) => l !== "");
      const columns = part.columns ?? [];
      const sql = `INSERT INTO ${quote(part.table)} (${columns.map(quote).join(", ")}) VALUES (${
        columns.map(() => "?").join(", ")
      })`;
      const stmts: InStatement[] = lines.map((line) => ({ sql, args: decodeRow(line) }));
      await client.batch(stmts, "write");
      counts.set(part.table, (counts.get(part.table) ?? 0) + lines.length);
    } else if (entry.name.startsWith("objects/")) {
      // A body the source kept in its object store: here it goes into the row and its chunks
      // (services/blob_chunks.ts), the layout of a store without one.
      const sha = entry.name.slice("objects/".length);
      const pieces: Uint8Array[] = [];
      if (isSealed(entry.data)) {
        // Sealed at rest: opened and sealed again as parts, under the same data key.
        const row = await client.execute({
          sql: "SELECT size FROM blobs WHERE sha256 = ?",
          args: [sha],
        });
        if (!objectAsParts || row.rows.length === 0) {
          throw new BackupError(entry.name, "a sealed body this restore cannot open");
        }
        pieces.push(...await objectAsParts(sha, entry.data, Number(row.rows[0][0])));
      } else {
        for (let at = 0; at === 0 || at < entry.data.byteLength; at += BLOB_CHUNK_BYTES) {
          pieces.push(entry.data.subarray(at, at + BLOB_CHUNK_BYTES));
        }
      }
      const stmts: InStatement[] = [{
        sql: "UPDATE blobs SET data = ? WHERE sha256 = ?",
        args: [pieces[0], sha],
      }];
      for (let seq = 1; seq < pieces.length; seq++) {
        stmts.push({
          sql: "INSERT INTO blob_chunks (sha256, seq, data) VALUES (?, ?, ?)",
          args: [sha, seq, pieces[seq]],
        });
      }
      await client.batch(stmts, "write");
      objects++;
    }
  }
  let rows = 0;
  for (const table of manifest.tables) {
    const got = counts.get(table.name) ?? 0;
    if (got !== table.rows) {
      throw new BackupError(`tables/${table.name}`, `${got} rows restored, ${table.rows} expected`);
    }
    rows += got;
  }
  await client.batch([
    ...manifest.sequences.flatMap((s): InStatement[] => [
      {
        sql: "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?",
        args: [s.seq, s.name],
      },
      {
        sql: "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? " +
          "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
        args: [s.name, s.seq, s.name],
      },
    ]),
    ...triggers.map((t) => t.sql),
  ], "write");
  const migrated = await migrate(client, all);
  const dangling = await client.execute("PRAGMA foreign_key_check");
  return {
    tables: manifest.tables.length,
    rows,
    objects,
    migrated,
    danglingReferences: dangling.rows.length,
  };
}

/**
 * Writes a backup (format.ts) from one snapshot of the store (snapshot.ts) as a stream of tar
 * octets, part by part: the server keeps taking mail while it runs, and at most one part (about
 * PART_BYTES, or one object-store body) is held in memory, so it also fits a Worker's 128 MB.
 *
 * What is copied: every table of the schema as its rows — the FTS5 index `messages_fts` as its
 * rows too (rowid = message id), its shadow tables not at all (the index rebuilds them) — the
 * AUTOINCREMENT counters, and, where the host keeps large bodies in an object store (R2), each
 * object a `blobs` row of the snapshot names. Left out: the migration bookkeeping (restore writes
 * its own by applying the same migrations) and the engine's internal tables (`sqlite_*`,
 * D1's `_cf_*`, libSQL's `libsql_*`).
 */
import type { SecretBox } from "../crypto.ts";
import { toHex } from "../crypto.ts";
import { type BlobObjects, objectKey } from "../store/blob_objects.ts";
import {
  encodeRow,
  FORMAT,
  FORMAT_VERSION,
  MANIFEST,
  type Manifest,
  manifestBody,
  type Part,
  PART_BYTES,
} from "./format.ts";
import type { SnapshotReader } from "./snapshot.ts";
import { TAR_END, tarHeader, tarPadding } from "./tar.ts";

export interface DumpOptions {
  reader: SnapshotReader;
  /** The host's object store for large bodies (R2 in a Worker), when it has one. */
  objects?: BlobObjects;
  /** Seals the key check with the master key. */
  secrets: SecretBox;
  posternVersion: string;
  now: () => number;
  /** Rows per page (smaller for tables with blob columns); tests set it low. */
  pageRows?: number;
}

interface TableInfo {
  name: string;
  virtual: boolean;
  hasBlobs: boolean;
}

const encoder = new TextEncoder();
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The tables a backup copies, in creation order. */
export async function backupTables(reader: SnapshotReader): Promise<TableInfo[]> {
  const { rows } = await reader.query(
    "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid",
  );
  const all = rows.map(([name, sql]) => ({ name: String(name), sql: String(sql ?? "") }));
  const virtuals = all.filter((t) => /^CREATE VIRTUAL TABLE/i.test(t.sql)).map((t) => t.name);
  const kept = all.filter((t) =>
    !/^(sqlite_|_cf_|libsql_)/.test(t.name) && t.name !== "postern_migrations" &&
    !virtuals.some((v) => t.name.startsWith(`${v}_`))
  );
  // Parents before the tables that refer to them, so a restore with foreign keys enforced
  // (remote libSQL cannot turn them off across batches) never inserts a dangling row.
  const refs = new Map(kept.map((t) => [
    t.name,
    [...t.sql.matchAll(/REFERENCES\s+[`"]?(\w+)[`"]?/gi)].map((m) => m[1])
      .filter((r) => r !== t.name),
  ]));
  const ordered: typeof kept = [];
  const visiting = new Set<string>();
  const visit = (t: (typeof kept)[number]) => {
    if (ordered.includes(t) || visiting.has(t.name)) return;
    visiting.add(t.name);
    for (const parent of refs.get(t.name) ?? []) {
      const p = kept.find((k) => k.name === parent);
      if (p) visit(p);
    }
    ordered.push(t);
  };
  kept.forEach(visit);
  return ordered.map((t) => ({
    name: t.name,
    virtual: virtuals.includes(t.name),
    hasBlobs: /\bblob\b/i.test(t.sql),
  }));
}

async function digest(bytes: Uint8Array): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
}

/** The backup as tar octets; the snapshot is closed when the stream ends or is cancelled. */
export function dumpBackup(options: DumpOptions): ReadableStream<Uint8Array> {
  const gen = dumpEntries(options);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await gen.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (e) {
        await options.reader.close().catch(() => {});
        controller.error(e);
      }
    },
    async cancel() {
      await gen.return(undefined);
    },
  }, { highWaterMark: 0 });
}

async function* dumpEntries(options: DumpOptions): AsyncGenerator<Uint8Array> {
  const { reader } = options;
  const parts: Part[] = [];
  const mtime = options.now() / 1000;
  async function* entry(name: string, data: Uint8Array, extra: Partial<Part> = {}) {
    parts.push({ name, bytes: data.byteLength, sha256: await digest(data), ...extra });
    yield tarHeader(name, data.byteLength, mtime);
    yield data;
    yield tarPadding(data.byteLength);
  }
  try {
    const createdAt = new Date(options.now()).toISOString();
    const migrations = (await reader.query("SELECT tag FROM postern_migrations ORDER BY tag"))
      .rows.map(([t]) => String(t));
    const tables: Manifest["tables"] = [];
    const objectShas: string[] = [];
    for (const table of await backupTables(reader)) {
      let count = 0;
      let partNo = 0;
      let lines: string[] = [];
      let size = 0;
      let columns: string[] | undefined;
      let after: number | null = null;
      const limit = table.hasBlobs ? 8 : options.pageRows ?? 500;
      const select = table.virtual ? `rowid AS __pk, rowid, *` : `rowid AS __pk, *`;
      const flush = async function* () {
        if (lines.length === 0) return;
        const name = `tables/${table.name}/${String(++partNo).padStart(5, "0")}.jsonl`;
        const data = encoder.encode(lines.join("\n") + "\n");
        yield* entry(name, data, { table: table.name, rows: lines.length, columns });
        lines = [];
        size = 0;
      };
      while (true) {
        const page = await reader.query(
          `SELECT ${select} FROM ${quote(table.name)} ${
            after === null ? "" : "WHERE rowid > ?"
          } ORDER BY rowid LIMIT ${limit}`,
          after === null ? [] : [after],
        );
        columns ??= page.columns.slice(1);
        for (const row of page.rows) {
          const values = row.slice(1);
          if (table.name === "blobs" && options.objects) {
            const data = values[columns.indexOf("data")];
            const length = (data as Uint8Array | ArrayBuffer | null)?.byteLength ?? 0;
            if (Number(values[columns.indexOf("size")]) > length) {
              objectShas.push(String(values[columns.indexOf("sha256")]));
            }
          }
          const line = encodeRow(values);
          lines.push(line);
          size += line.length;
          count++;
          if (size >= PART_BYTES) yield* flush();
        }
        if (page.rows.length < limit) break;
        after = Number(page.rows[page.rows.length - 1][0]);
      }
      yield* flush();
      tables.push({ name: table.name, rows: count, virtual: table.virtual });
    }
    let sequences: Manifest["sequences"] = [];
    try {
      sequences = (await reader.query("SELECT name, seq FROM sqlite_sequence ORDER BY name"))
        .rows.map(([name, seq]) => ({ name: String(name), seq: Number(seq) }));
    } catch {
      // No AUTOINCREMENT table yet, or an engine that hides the table: ids restart at max + 1.
    }
    await reader.close();
    for (const sha of objectShas) {
      const bytes = await options.objects!.bytes(objectKey(sha));
      if (!bytes) {
        throw new Error(`the object store has no body for blob ${sha}, which a row names`);
      }
      yield* entry(`objects/${sha}`, bytes);
    }
    const body: Omit<Manifest, "keyCheck"> = {
      format: FORMAT,
      formatVersion: FORMAT_VERSION,
      posternVersion: options.posternVersion,
      migrations,
      engine: reader.engine,
      consistency: reader.consistency,
      createdAt,
      tables,
      sequences,
      parts,
    };
    const keyCheck = await options.secrets.seal(await digest(encoder.encode(manifestBody(body))));
    const manifest = encoder.encode(JSON.stringify({ ...body, keyCheck }, null, 1));
    yield tarHeader(MANIFEST, manifest.byteLength, mtime);
    yield manifest;
    yield tarPadding(manifest.byteLength);
    yield TAR_END;
  } finally {
    await reader.close().catch(() => {});
  }
}

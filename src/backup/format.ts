/**
 * The Postern backup format, version 1 (docs/backup.md): a ustar file (or a folder with the
 * same names) of
 *
 * - `tables/<table>/<nnnnn>.jsonl` — a table's rows in pages of at most PART_BYTES, one JSON
 *   array per line in the column order the manifest gives; a blob value is `{"$b": base64}`;
 * - `objects/<sha256>` — a message body the source kept in its object store (R2 on a Worker);
 * - `manifest.json`, last — format and Postern version, the migrations the rows were written
 *   under, engine, consistency, created-at, per-table row counts and columns, the size and
 *   SHA-256 of every part, and `keyCheck`: the manifest's own digest sealed with the master key
 *   (AES-256-GCM, src/crypto.ts SecretBox). Opening it proves at restore both that the master
 *   key is the one the backup's sealed secrets need and that the manifest was not altered; the
 *   parts' digests then cover every other octet.
 *
 * Secrets are never in plaintext here: the store keeps passwords, API keys and app passwords
 * hashed and private keys, TOTP seeds and webhook secrets sealed with the master key, and the
 * backup copies those columns as they are. The master key itself is never written.
 */
import { z } from "zod";
import { fromBase64, toBase64 } from "../crypto.ts";

export const FORMAT = "postern-backup";
export const FORMAT_VERSION = 1;
export const MANIFEST = "manifest.json";
/** A table part is cut once its encoded rows pass this size (what a reader holds at once). */
export const PART_BYTES = 4 * 1024 * 1024;

export const Part = z.object({
  name: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  table: z.string().optional(),
  rows: z.number().int().nonnegative().optional(),
  columns: z.array(z.string()).optional(),
});
export type Part = z.infer<typeof Part>;

export const Manifest = z.object({
  format: z.literal(FORMAT),
  formatVersion: z.number().int(),
  posternVersion: z.string(),
  /** Every migration the source had applied, in order; the last one is the schema of the rows. */
  migrations: z.array(z.string()).min(1),
  engine: z.enum(["file", "libsql", "d1"]),
  consistency: z.string(),
  createdAt: z.string(),
  tables: z.array(z.object({ name: z.string(), rows: z.number().int(), virtual: z.boolean() })),
  /** AUTOINCREMENT counters (`sqlite_sequence`), so restored ids never come back. */
  sequences: z.array(z.object({ name: z.string(), seq: z.number().int() })),
  parts: z.array(Part),
  keyCheck: z.string(),
});
export type Manifest = z.infer<typeof Manifest>;

/** The octets the key check seals the digest of: the manifest without `keyCheck`. */
export function manifestBody(m: Omit<Manifest, "keyCheck"> & { keyCheck?: string }): string {
  const { keyCheck: _, ...rest } = m;
  return JSON.stringify(rest);
}

const asBytes = (v: unknown): Uint8Array | undefined =>
  v instanceof Uint8Array ? v : v instanceof ArrayBuffer ? new Uint8Array(v) : undefined;

/** One row as a JSON line. */
export function encodeRow(row: unknown[]): string {
  return JSON.stringify(row.map((v) => {
    const bytes = asBytes(v);
    if (bytes) return { $b: toBase64(bytes) };
    if (typeof v === "bigint") return Number(v);
    return v;
  }));
}

/** A JSON line back into SQL values. */
export function decodeRow(line: string): (string | number | null | Uint8Array)[] {
  const values = JSON.parse(line);
  if (!Array.isArray(values)) throw new Error("a row line must be a JSON array");
  return values.map((v) => {
    if (v !== null && typeof v === "object") {
      if (typeof v.$b !== "string") throw new Error("unknown value object in a row");
      return fromBase64(v.$b);
    }
    return v;
  });
}

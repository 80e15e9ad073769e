/**
 * Results in @libsql/client's shape, for the clients Postern builds itself over other bindings
 * (hosts/process/sqlite_client.ts over the `libsql` package, store/d1_client.ts over Cloudflare D1), so
 * drizzle's libSQL driver and `rawSql` read them as they read @libsql/client's.
 */
import type { ResultSet, Row } from "@libsql/client/web";

/**
 * A row: values by index (not enumerable, as drizzle reads them) and by column name (the first
 * column of a repeated name), each value passed through `map`.
 */
export function toRow(
  values: readonly unknown[],
  columns: readonly string[],
  map: (value: unknown) => unknown = (v) => v,
): Row {
  const row: Record<string | number, unknown> = {};
  Object.defineProperty(row, "length", { value: values.length });
  for (let i = 0; i < values.length; i++) {
    const value = map(values[i]);
    Object.defineProperty(row, i, { value });
    if (!Object.hasOwn(row, columns[i])) row[columns[i]] = value;
  }
  return row as unknown as Row;
}

export function resultSet(
  columns: string[],
  rows: Row[],
  rowsAffected: number,
  lastInsertRowid: bigint | undefined,
): ResultSet {
  return {
    columns,
    columnTypes: columns.map(() => ""),
    rows,
    rowsAffected,
    lastInsertRowid,
    toJSON: () => ({ columns, rows: rows.map((r) => Array.from(r as ArrayLike<unknown>)) }),
  };
}

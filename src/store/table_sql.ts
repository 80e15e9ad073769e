/**
 * Plain-SQL inserts and row mapping for a drizzle table, for the statements every send and
 * delivery runs: the SQL text is built once per column set (and cached by the client as a
 * prepared statement), values go through the columns' own driver mappings (booleans as 0/1,
 * blobs as bytes), and rows come back in the table's camelCase shape. Everything else keeps
 * using drizzle's query builder.
 */
import {
  getTableColumns,
  getTableName,
  type InferInsertModel,
  type InferSelectModel,
  type Table,
} from "drizzle-orm";
import type { InValue } from "@libsql/client/web";
import type { RawSql } from "./store.ts";
import { chunkSizes } from "./appends.ts";

type Row = Record<string, unknown>;

export interface TableSql<T extends Table> {
  /** `"column" AS "field", …` for a SELECT list whose rows `fromRow` understands. */
  readonly columns: string;
  readonly name: string;
  fromRow(row: Row): InferSelectModel<T>;
  /** Inserts one row; `ignoreConflicts` skips a row that breaks a UNIQUE constraint. */
  insert(
    sql: RawSql,
    values: InferInsertModel<T>,
    options?: { ignoreConflicts?: boolean },
  ): Promise<void>;
  /** Inserts one row and answers it as stored (defaults filled in). */
  insertReturning(sql: RawSql, values: InferInsertModel<T>): Promise<InferSelectModel<T>>;
  /** Inserts rows in order, many to a statement (store/appends.ts uses this). */
  insertMany(
    sql: RawSql,
    rows: InferInsertModel<T>[],
    options?: { ignoreConflicts?: boolean },
  ): Promise<void>;
}

interface ColumnLike {
  name: string;
  mapToDriverValue(value: unknown): unknown;
  mapFromDriverValue(value: unknown): unknown;
}

export function tableSql<T extends Table>(table: T): TableSql<T> {
  const columns = Object.entries(getTableColumns(table)) as unknown as [string, ColumnLike][];
  const byField = new Map(columns);
  const name = getTableName(table);
  const selectList = columns.map(([field, c]) => `"${c.name}" AS "${field}"`).join(", ");
  const statements = new Map<string, string>();
  const fromRow = (row: Row) => {
    const out: Row = {};
    for (const [field, c] of columns) {
      const value = row[field];
      out[field] = value === null || value === undefined ? null : c.mapFromDriverValue(value);
    }
    return out as InferSelectModel<T>;
  };
  /** The INSERT for these fields, `rows` rows of them at once; texts are built once. */
  const statement = (fields: string[], returning: boolean, ignore: boolean, rows = 1) => {
    const key = `${returning ? "R" : "-"}${ignore ? "I" : "-"}${rows}:${fields.join(",")}`;
    let text = statements.get(key);
    if (!text) {
      const names = fields.map((f) => `"${byField.get(f)!.name}"`).join(", ");
      const tuple = `(${fields.map(() => "?").join(", ")})`;
      text = `INSERT INTO "${name}" (${names}) VALUES ${Array(rows).fill(tuple).join(", ")}` +
        (ignore ? " ON CONFLICT DO NOTHING" : "") + (returning ? ` RETURNING ${selectList}` : "");
      statements.set(key, text);
    }
    return text;
  };
  /** The given fields (undefined ones take the column's default) and their driver values. */
  const fieldsOf = (values: Row) => {
    const fields: string[] = [];
    const args: InValue[] = [];
    for (const [field, value] of Object.entries(values)) {
      if (value === undefined) continue; // the column's default applies
      const column = byField.get(field);
      if (!column) throw new Error(`${name} has no column ${field}`);
      fields.push(field);
      args.push((value === null ? null : column.mapToDriverValue(value)) as InValue);
    }
    return { fields, args };
  };
  const bind = (values: Row, returning: boolean, ignore = false) => {
    const { fields, args } = fieldsOf(values);
    return { text: statement(fields, returning, ignore), args };
  };
  return {
    columns: selectList,
    name,
    fromRow,
    async insert(sql, values, options) {
      const { text, args } = bind(values as Row, false, options?.ignoreConflicts);
      await sql.run(text, args);
    },
    async insertReturning(sql, values) {
      const { text, args } = bind(values as Row, true);
      const row = await sql.get<Row>(text, args);
      return fromRow(row!);
    },
    async insertMany(sql, rows, options) {
      const ignore = options?.ignoreConflicts ?? false;
      // Consecutive rows with the same fields share statements; order is kept throughout.
      let run: InValue[][] = [];
      let runFields: string[] = [];
      let runKey = "";
      const insertRun = async () => {
        let at = 0;
        for (const size of chunkSizes(run.length, runFields.length)) {
          await sql.run(statement(runFields, false, ignore, size), run.slice(at, at + size).flat());
          at += size;
        }
        run = [];
      };
      for (const values of rows) {
        const { fields, args } = fieldsOf(values as Row);
        const key = fields.join(",");
        if (run.length > 0 && key !== runKey) await insertRun();
        runKey = key;
        runFields = fields;
        run.push(args);
      }
      if (run.length > 0) await insertRun();
    },
  };
}

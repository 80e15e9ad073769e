/**
 * `column IN (list)` with the whole list as ONE bound parameter: a JSON array read back by
 * SQLite's `json_each`. Cloudflare D1 refuses a statement with more than 100 bound parameters
 * (issue 16, item 4), and an IMAP command or a bulk request easily names more messages than
 * that; drizzle's `inArray` binds one parameter per value. SQLite still looks each value up in
 * the column's index (an IN over a subquery), and an empty list matches nothing, as `inArray`'s.
 */
import { type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";

/** The SQL text of the list's subquery, for plain-SQL statements: bind `jsonList(values)`. */
export const IN_JSON = "(SELECT value FROM json_each(?))";

/** The one parameter `IN_JSON` binds. */
export function jsonList(values: readonly (string | number)[]): string {
  return JSON.stringify(values);
}

/** `column IN (values)`, however many values, bound as one parameter. */
export function inList(column: SQLiteColumn | SQL, values: readonly (string | number)[]): SQL {
  return sql`${column} IN (SELECT value FROM json_each(${jsonList(values)}))`;
}

/**
 * Templates for transactional mail: subject, text and html rendered with Mustache (logic-less,
 * no eval, so it runs on edge runtimes). In html `{{name}}` is HTML-escaped and `{{{name}}}` is
 * not; subject and text are never escaped. Each save of a name is a new version; a send or
 * preview names the latest or a given version. Every variable the template uses at its top
 * level and the caller did not give is reported by name before anything is sent. A version is at
 * most TEMPLATE_MAX_BYTES (schemas/tx_templates.ts), well under D1's 2 MB rows.
 */
import Mustache from "mustache";
import { and, desc, eq } from "drizzle-orm";
import type { FieldError } from "../../schemas/problem.ts";
import { TEMPLATE_MAX_BYTES } from "../../schemas/tx_templates.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";

export type TemplateRow = typeof schema.txTemplates.$inferSelect;

const encoder = new TextEncoder();

export interface TemplateInput {
  name: string;
  subject: string;
  text?: string;
  html?: string;
}

export interface Rendered {
  subject: string;
  text?: string;
  html?: string;
}

type Span = [string, string, number, number, Span[]?];

/** The variables used outside sections (inside a section a name may come from the item). */
function topLevelNames(template: string): string[] {
  const out: string[] = [];
  for (const token of Mustache.parse(template) as unknown as Span[]) {
    const [type, value] = token;
    if ((type === "name" || type === "&" || type === "{") && value !== ".") out.push(value);
  }
  return out;
}

function has(view: Record<string, unknown>, path: string): boolean {
  let cur: unknown = view;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object" || !(part in (cur as object))) return false;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur !== undefined && cur !== null;
}

/** Checks that each part parses; a syntax error names the field. */
export function validateTemplate(input: TemplateInput): void {
  const fields: FieldError[] = [];
  for (const field of ["subject", "text", "html"] as const) {
    const source = input[field];
    if (source === undefined) continue;
    try {
      Mustache.parse(source);
    } catch (e) {
      fields.push({ path: field, message: `template syntax: ${(e as Error).message}` });
    }
  }
  if (input.text === undefined && input.html === undefined) {
    fields.push({ path: "text", message: "a template needs text, html or both" });
  }
  const bytes = [input.subject, input.text ?? "", input.html ?? ""]
    .reduce((n, part) => n + encoder.encode(part).byteLength, 0);
  if (bytes > TEMPLATE_MAX_BYTES) {
    const largest = (input.html ?? "").length >= (input.text ?? "").length ? "html" : "text";
    fields.push({
      path: largest,
      message: `the template is ${bytes} bytes; subject, text and html together may be at ` +
        `most ${TEMPLATE_MAX_BYTES} bytes (512 KiB) of UTF-8`,
    });
  }
  if (fields.length) {
    throw new AppError(422, "validation_failed", fields.map((f) => f.message).join("; "), fields);
  }
}

export function renderTemplate(
  t: { subject: string; text?: string | null; html?: string | null },
  variables: Record<string, unknown>,
): Rendered {
  const missing = new Set<string>();
  for (const source of [t.subject, t.text ?? "", t.html ?? ""]) {
    for (const name of topLevelNames(source)) if (!has(variables, name)) missing.add(name);
  }
  if (missing.size > 0) {
    const names = [...missing];
    throw new AppError(
      422,
      "validation_failed",
      `missing template variable${names.length > 1 ? "s" : ""}: ${names.join(", ")}`,
      names.map((n) => ({ path: `variables.${n}`, message: `missing variable "${n}"` })),
    );
  }
  const plain = { escape: (v: unknown) => String(v) };
  return {
    subject: Mustache.render(t.subject, variables, {}, plain).replace(/[\r\n]+/g, " "),
    text: t.text == null ? undefined : Mustache.render(t.text, variables, {}, plain),
    html: t.html == null ? undefined : Mustache.render(t.html, variables),
  };
}

const templatesSql = tableSql(schema.txTemplates);

export async function saveTemplate(
  deps: Deps,
  accountId: number,
  input: TemplateInput,
): Promise<TemplateRow> {
  validateTemplate(input);
  // One statement: the next version is read by the insert itself (the unique key stops a twin).
  const [saved] = await deps.store.batch([{
    sql: `INSERT INTO tx_templates (account_id, name, version, subject, text, html, created_at)
      SELECT ?1, ?2, coalesce(max(version), 0) + 1, ?3, ?4, ?5, ?6
      FROM tx_templates WHERE account_id = ?1 AND name = ?2
      RETURNING ${templatesSql.columns}`,
    args: [
      accountId,
      input.name,
      input.subject,
      input.text ?? null,
      input.html ?? null,
      deps.clock.now(),
    ],
  }]);
  return templatesSql.fromRow(saved.rows[0] as unknown as Record<string, unknown>);
}

export async function getTemplate(
  db: Queryable,
  accountId: number,
  name: string,
  version?: number,
): Promise<TemplateRow> {
  const where = [eq(schema.txTemplates.accountId, accountId), eq(schema.txTemplates.name, name)];
  if (version !== undefined) where.push(eq(schema.txTemplates.version, version));
  const [row] = await db.select().from(schema.txTemplates).where(and(...where))
    .orderBy(desc(schema.txTemplates.version)).limit(1);
  if (!row) {
    throw notFound(version === undefined ? `template ${name}` : `template ${name} v${version}`);
  }
  return row;
}

/**
 * The name of the account's template one of whose versions has this id: Postmark's `TemplateId`
 * names a template, not a version, so the send renders that name's latest version.
 */
export async function templateNameById(
  db: Queryable,
  accountId: number,
  id: number,
): Promise<string> {
  const [row] = await db.select({ name: schema.txTemplates.name }).from(schema.txTemplates)
    .where(and(eq(schema.txTemplates.accountId, accountId), eq(schema.txTemplates.id, id)));
  if (!row) throw notFound(`template ${id}`);
  return row.name;
}

/** The latest version of each template, by name. */
export async function listTemplates(db: Queryable, accountId: number): Promise<TemplateRow[]> {
  const rows = await db.select().from(schema.txTemplates)
    .where(eq(schema.txTemplates.accountId, accountId))
    .orderBy(schema.txTemplates.name, desc(schema.txTemplates.version));
  const seen = new Set<string>();
  return rows.filter((r) => !seen.has(r.name) && seen.add(r.name));
}

export async function listVersions(
  db: Queryable,
  accountId: number,
  name: string,
): Promise<TemplateRow[]> {
  const rows = await db.select().from(schema.txTemplates).where(and(
    eq(schema.txTemplates.accountId, accountId),
    eq(schema.txTemplates.name, name),
  )).orderBy(desc(schema.txTemplates.version));
  if (rows.length === 0) throw notFound(`template ${name}`);
  return rows;
}

export async function deleteTemplate(deps: Deps, accountId: number, name: string): Promise<void> {
  const gone = await deps.store.db.delete(schema.txTemplates).where(and(
    eq(schema.txTemplates.accountId, accountId),
    eq(schema.txTemplates.name, name),
  )).returning({ id: schema.txTemplates.id });
  if (gone.length === 0) throw notFound(`template ${name}`);
}

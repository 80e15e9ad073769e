/**
 * An account's Sieve scripts (RFC 5228), as the REST API and the ManageSieve server (RFC 5804,
 * through that API) see them: list, read, store (validated, within the size and count limits),
 * rename, delete (never the active one, section 2.10), and choose the one active script
 * (section 2.8). Every write is one statement or one batch whose guards re-check in SQL what
 * was read, so two processes editing the same account cannot leave two active scripts or
 * more scripts than the limit.
 */
import type { Deps } from "../deps.ts";
import { AppError, type ErrorCode } from "../errors.ts";
import type { SieveProblem } from "../sieve/errors.ts";
import { type Node, parseScript } from "../sieve/validate.ts";
import { forgetSieveState } from "./sieve_delivery.ts";
import {
  assertStep,
  isFailedAssertion,
  type Queryable,
  rawSql,
  type Store,
} from "../store/store.ts";

/** An AppError with the extra problem+json members the contract names (routes/sieve.ts). */
export class SieveRefusal extends AppError {
  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(status, code, message);
  }
}

export const scriptNotFound = (name: string) =>
  new SieveRefusal(404, "sieve_script_not_found", `no Sieve script named "${name}"`);

export interface ScriptSummary {
  name: string;
  active: boolean;
  sizeBytes: number;
  updatedAt: string;
}

const MAX_NAME_CHARS = 128;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** RFC 5804 section 1.6: the reason a script name is refused, or undefined when it is fine. */
export function badScriptName(name: string): string | undefined {
  if (name.length === 0) return "a script name cannot be empty";
  if ([...name].length > MAX_NAME_CHARS) {
    return `a script name has at most ${MAX_NAME_CHARS} characters`;
  }
  if (CONTROL.test(name)) return "a script name cannot contain control characters";
  if (name.normalize("NFC") !== name) return "a script name must be in Unicode NFC form";
  if (name.includes("\uFFFD")) return "a script name must be valid UTF-8";
  return undefined;
}

export function assertScriptName(name: string): void {
  const bad = badScriptName(name);
  if (bad) throw new SieveRefusal(400, "sieve_bad_name", bad);
}

/** Validates a script: the 422 `sieve_invalid` refusal with every problem, or the warnings. */
export function checkScript(deps: Deps, script: string): string[] {
  const size = new TextEncoder().encode(script).length;
  if (size > deps.config.sieveMaxScriptBytes) {
    throw new SieveRefusal(
      413,
      "sieve_quota",
      `the script has ${size} bytes; the limit is ${deps.config.sieveMaxScriptBytes}`,
      { limit: "size" },
    );
  }
  const parsed = parseScript(script);
  if (!parsed.ok) throw invalidScript(parsed.errors);
  return parsed.warnings;
}

/**
 * `checkScript`, and a warning for each `fileinto` of a mailbox the account does not have
 * (written out, without variables): such mail is kept in the Inbox at delivery.
 */
export async function checkScriptFor(
  deps: Deps,
  accountId: number,
  script: string,
): Promise<string[]> {
  const warnings = checkScript(deps, script);
  const parsed = parseScript(script);
  if (!parsed.ok) return warnings;
  const targets = new Map<string, number>();
  const walk = (nodes: Node[]) => {
    for (const n of nodes) {
      const name = n.name === "fileinto" && Array.isArray(n.positional[0])
        ? n.positional[0][0]
        : "";
      if (name && !name.includes("${")) targets.set(name, n.at.line);
      if (n.block) walk(n.block);
    }
  };
  walk(parsed.program.commands);
  if (targets.size === 0) return warnings;
  const boxes = await rawSql(deps.store.db).all<{ name: string; role: string | null }>(
    "SELECT name, role FROM mailboxes WHERE account_id = ?",
    [accountId],
  );
  const known = new Set(boxes.map((b) => b.name.toLowerCase()));
  for (const [name, line] of targets) {
    if (name.toUpperCase() === "INBOX" || known.has(name.toLowerCase())) continue;
    warnings.push(
      `line ${line}: there is no mailbox "${name}"; such mail will be kept in the Inbox`,
    );
  }
  return warnings;
}

export function invalidScript(errors: SieveProblem[]): SieveRefusal {
  const first = errors[0];
  return new SieveRefusal(
    422,
    "sieve_invalid",
    `line ${first.line}, column ${first.column}: ${first.reason}`,
    { errors },
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

export async function listScripts(db: Queryable, accountId: number): Promise<ScriptSummary[]> {
  const rows = await rawSql(db).all<
    { name: string; active: number; size_bytes: number; updated_at: number }
  >(
    "SELECT name, active, size_bytes, updated_at FROM sieve_scripts WHERE account_id = ? ORDER BY name",
    [accountId],
  );
  return rows.map((r) => ({
    name: r.name,
    active: Boolean(r.active),
    sizeBytes: Number(r.size_bytes),
    updatedAt: iso(Number(r.updated_at)),
  }));
}

export async function getScript(
  db: Queryable,
  accountId: number,
  name: string,
): Promise<{ name: string; active: boolean; script: string }> {
  const row = await rawSql(db).get<{ name: string; active: number; script: string }>(
    "SELECT name, active, script FROM sieve_scripts WHERE account_id = ? AND name = ?",
    [accountId, name],
  );
  if (!row) throw scriptNotFound(name);
  return { name: row.name, active: Boolean(row.active), script: String(row.script) };
}

/** Creates or replaces a script (validated first); the count limit is held by the statement. */
export async function putScript(
  deps: Deps,
  accountId: number,
  name: string,
  script: string,
): Promise<ScriptSummary> {
  assertScriptName(name);
  checkScript(deps, script);
  const size = new TextEncoder().encode(script).length;
  const now = deps.clock.now();
  // A new name is inserted only while the account is below the limit; a replacement always is.
  const rs = await deps.store.batch([{
    sql: "INSERT INTO sieve_scripts (account_id, name, script, size_bytes, active, version, " +
      "created_at, updated_at) SELECT ?1, ?2, ?3, ?4, 0, 1, ?5, ?5 WHERE " +
      "EXISTS (SELECT 1 FROM sieve_scripts WHERE account_id = ?1 AND name = ?2) OR " +
      "(SELECT count(*) FROM sieve_scripts WHERE account_id = ?1) < ?6 " +
      "ON CONFLICT (account_id, name) DO UPDATE SET script = excluded.script, " +
      "size_bytes = excluded.size_bytes, version = version + 1, updated_at = excluded.updated_at " +
      "RETURNING name, active, size_bytes, updated_at",
    args: [accountId, name, script, size, now, deps.config.sieveMaxScripts],
  }]);
  forgetSieveState(deps.store);
  const row = rs[0].rows[0];
  if (!row) {
    throw new SieveRefusal(
      413,
      "sieve_quota",
      `an account may keep at most ${deps.config.sieveMaxScripts} Sieve scripts`,
      { limit: "count" },
    );
  }
  return {
    name: String(row.name),
    active: Boolean(row.active),
    sizeBytes: Number(row.size_bytes),
    updatedAt: iso(Number(row.updated_at)),
  };
}

export async function renameScript(
  store: Store,
  accountId: number,
  name: string,
  newName: string,
  now: number,
): Promise<void> {
  assertScriptName(newName);
  if (newName === name) {
    await getScript(store.db, accountId, name);
    return;
  }
  let rs;
  try {
    rs = await store.batch([{
      sql: "UPDATE sieve_scripts SET name = ?, updated_at = ? WHERE account_id = ? AND name = ?",
      args: [newName, now, accountId, name],
    }]);
  } catch (e) {
    if (/UNIQUE constraint failed/i.test(String((e as Error)?.message ?? e))) {
      throw new SieveRefusal(409, "sieve_name_taken", `a Sieve script named "${newName}" exists`);
    }
    throw e;
  }
  if (rs[0].rowsAffected === 0) throw scriptNotFound(name);
}

/** RFC 5804 section 2.10: the active script cannot be deleted. */
export async function deleteScript(store: Store, accountId: number, name: string): Promise<void> {
  const rs = await store.batch([{
    sql: "DELETE FROM sieve_scripts WHERE account_id = ? AND name = ? AND active = 0",
    args: [accountId, name],
  }]);
  if (rs[0].rowsAffected > 0) return;
  const { active } = await getScript(store.db, accountId, name);
  if (active) {
    throw new SieveRefusal(
      409,
      "sieve_script_active",
      `"${name}" is the active script; deactivate it first`,
    );
  }
  throw scriptNotFound(name);
}

/** Makes `name` the one active script, or none for null (RFC 5804 section 2.8). */
export async function setActive(
  store: Store,
  accountId: number,
  name: string | null,
): Promise<void> {
  const off = {
    sql: "UPDATE sieve_scripts SET active = 0 WHERE account_id = ? AND active = 1",
    args: [accountId],
  };
  if (name === null) {
    await store.batch([off]);
    forgetSieveState(store);
    return;
  }
  try {
    await store.batch([
      assertStep("EXISTS (SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?)", [
        accountId,
        name,
      ]),
      { ...off, sql: off.sql + " AND name <> ?", args: [accountId, name] },
      {
        sql: "UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?",
        args: [accountId, name],
      },
    ]);
  } catch (e) {
    if (isFailedAssertion(e)) throw scriptNotFound(name);
    throw e;
  } finally {
    forgetSieveState(store);
  }
}

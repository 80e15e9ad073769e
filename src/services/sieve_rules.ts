/**
 * The simple JSON forms of filtering — ordered rules and vacation settings — for people who
 * will never write Sieve. Both live in one row per account (schema_sieve.ts `sieve_managed`)
 * with the script compiled from them (src/sieve/compile_rules.ts), which runs at delivery
 * before the account's own active script (sieve_delivery.ts), as Pigeonhole's `sieve_before`
 * does. The row is written with its version checked in SQL, so two processes saving the rules
 * and the vacation at once cannot make a script that holds only one of the two.
 */
import type { SieveRule, SieveVacation } from "../../schemas/sieve.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { compileManaged } from "../sieve/compile_rules.ts";
import { parseScript } from "../sieve/validate.ts";
import { rawSql } from "../store/store.ts";

interface ManagedRow {
  rules: SieveRule[];
  vacation: SieveVacation | null;
  script: string;
  version: number;
}

export async function readManaged(deps: Deps, accountId: number): Promise<ManagedRow> {
  const row = await rawSql(deps.store.db).get<
    { rules: string; vacation: string | null; script: string; version: number }
  >(
    "SELECT rules, vacation, script, version FROM sieve_managed WHERE account_id = ?",
    [accountId],
  );
  if (!row) return { rules: [], vacation: null, script: "", version: 0 };
  return {
    rules: JSON.parse(String(row.rules)),
    vacation: row.vacation ? JSON.parse(String(row.vacation)) : null,
    script: String(row.script),
    version: Number(row.version),
  };
}

/** Saves one of the two forms (the other as stored) and the script compiled from both. */
export async function saveManaged(
  deps: Deps,
  accountId: number,
  change: { rules?: SieveRule[]; vacation?: SieveVacation | null },
): Promise<ManagedRow> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await readManaged(deps, accountId);
    const rules = change.rules ?? current.rules;
    const vacation = change.vacation !== undefined ? change.vacation : current.vacation;
    const script = compileManaged(rules, vacation);
    checkCompiled(deps, script);
    const rs = await deps.store.batch([{
      sql: `INSERT INTO sieve_managed (account_id, rules, vacation, script, version, updated_at)
        VALUES (?1, ?2, ?3, ?4, 1, ?5)
        ON CONFLICT (account_id) DO UPDATE SET rules = excluded.rules,
          vacation = excluded.vacation, script = excluded.script, version = version + 1,
          updated_at = excluded.updated_at
        WHERE version = ?6 RETURNING version`,
      args: [
        accountId,
        JSON.stringify(rules),
        vacation ? JSON.stringify(vacation) : null,
        script,
        deps.clock.now(),
        current.version,
      ],
    }]);
    const row = rs[0].rows[0];
    if (row) return { rules, vacation, script, version: Number(row.version) };
  }
  throw new AppError(409, "conflict", "the rules changed meanwhile; try again");
}

/** The compiled script must be valid Sieve within the size limit (a fault of ours if not). */
function checkCompiled(deps: Deps, script: string) {
  if (new TextEncoder().encode(script).length > deps.config.sieveMaxScriptBytes) {
    throw new AppError(
      413,
      "payload_too_large",
      `these rules compile to more than ${deps.config.sieveMaxScriptBytes} bytes of Sieve`,
    );
  }
  const parsed = parseScript(script);
  if (!parsed.ok) {
    const e = parsed.errors[0];
    throw new AppError(422, "validation_failed", `the rules do not compile: ${e.reason}`);
  }
}

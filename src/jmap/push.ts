/**
 * Push over EventSource (RFC 8620 section 7.3): the state of each data type the client asked
 * for, compared with what it last saw, becomes a StateChange (section 7.1) when any moved.
 * `EmailDelivery` (RFC 8621 section 1.5) moves only when a new Email arrives, so clients can
 * tell new mail from their own changes. The stream is woken by the event bus and also polls,
 * which is how changes made by other processes arrive.
 */
import { type Queryable, rawSql } from "../store/store.ts";
import { accountIdOf } from "./ids.ts";
import { currentState, type DataType } from "./state.ts";

export const PUSH_TYPES = ["Mailbox", "Email", "Thread", "EmailSubmission", "EmailDelivery"];

/** The `types` parameter: "*" or a comma-separated list; unknown names are ignored. */
export function pushTypes(param: string | undefined): string[] {
  if (param === undefined || param === "" || param === "*") return PUSH_TYPES;
  return [...new Set(param.split(",").map((t) => t.trim()))].filter((t) => PUSH_TYPES.includes(t));
}

export async function pushStates(db: Queryable, accountId: number, types: string[]) {
  const out: Record<string, string> = {};
  for (const type of types) {
    if (type === "EmailDelivery") {
      // Newest first on the (account, type, seq) index: stops at the latest creation.
      // (raw: drizzle's get() throws on no row, and a new account has none.)
      const row = await rawSql(db).get<{ seq: number }>(
        `SELECT seq FROM jmap_changes WHERE account_id = ? AND type = 'Email' AND op = 0
          ORDER BY seq DESC LIMIT 1`,
        [accountId],
      );
      out[type] = String(Number(row?.seq ?? 0));
    } else out[type] = await currentState(db, accountId, type as DataType);
  }
  return out;
}

/** A StateChange with the types whose state differs from `before`; undefined when none does. */
export function stateChange(
  accountId: number,
  before: Record<string, string>,
  now: Record<string, string>,
) {
  const changed: Record<string, string> = {};
  for (const [type, state] of Object.entries(now)) {
    if (before[type] !== state) changed[type] = state;
  }
  if (Object.keys(changed).length === 0) return undefined;
  return { "@type": "StateChange", changed: { [accountIdOf(accountId)]: changed } };
}

/** Section 7.3 `ping`: 0 is none; otherwise at least 5 and at most 300 seconds. */
export function pingSeconds(param: string | undefined): number {
  const n = Number(param ?? 0);
  if (!Number.isInteger(n) || n <= 0) return 0;
  return Math.min(300, Math.max(5, n));
}

/**
 * An account's own forwarding (issue 21 item 3): its mail is also (or only) sent on to up to
 * ten addresses. Read at every delivery to the account through the request's read cache (one
 * JSON scalar that a request with optimistic reads re-checks in its write job,
 * store/read_scope.ts); the copies leave through the same path as an alias's remote targets,
 * so they carry an SRS sender and an ARC seal (./forward.ts).
 *
 * Mail that arrives as junk is not forwarded (it stays in the account's Junk): forwarding spam
 * would spend the forwarding domain's reputation on someone else's mail.
 */
import { parseAddress } from "../../schemas/address.ts";
import { AppError } from "../errors.ts";
import type { Deps } from "../deps.ts";
import { remember } from "../store/read_scope.ts";
import { type Queryable, rawSql } from "../store/store.ts";
import { srsRoute } from "./forward.ts";

export const MAX_FORWARD_TARGETS = 10;

export interface Forwarding {
  /** Where the account's mail goes too; empty: no forwarding. */
  targets: string[];
  /** Also store it in the account's mailboxes (when false, only forwarded). */
  keepCopy: boolean;
}

const SETTING =
  "(SELECT json_array(targets, keep_copy) FROM account_forwarding WHERE account_id = ?)";

/** The account's forwarding (no row: none). */
export async function forwardingOf(db: Queryable, accountId: number): Promise<Forwarding> {
  const found = await remember(
    db,
    `forwarding ${accountId}`,
    async () =>
      (await rawSql(db).get<{ s: string | null }>(`SELECT ${SETTING} AS s`, [accountId]))!.s,
    (value) => ({ condition: `${SETTING} IS ?`, args: [accountId, value] }),
  );
  if (!found) return { targets: [], keepCopy: true };
  const [targets, keep] = JSON.parse(found) as [string, number];
  return { targets: JSON.parse(targets) as string[], keepCopy: Boolean(keep) };
}

/**
 * Stores the account's forwarding, every problem reported at once (422): addresses that do not
 * parse, the account's own address (a loop), more than ten. An empty list turns it off.
 */
export async function setForwarding(
  deps: Deps,
  account: { id: number; address: string },
  input: Forwarding,
): Promise<Forwarding> {
  const problems: { path: string; message: string }[] = [];
  const targets: string[] = [];
  const own = account.address.toLowerCase();
  for (const [i, raw] of input.targets.entries()) {
    const parsed = parseAddress(raw);
    if (!parsed.ok) {
      problems.push({ path: `targets.${i}`, message: parsed.error });
      continue;
    }
    const address = parsed.value.address;
    if (address.toLowerCase() === own) {
      problems.push({ path: `targets.${i}`, message: "forwarding to the account itself loops" });
    } else if (targets.some((t) => t.toLowerCase() === address.toLowerCase())) {
      problems.push({ path: `targets.${i}`, message: "listed twice" });
    } else targets.push(address);
  }
  if (input.targets.length > MAX_FORWARD_TARGETS) {
    problems.push({ path: "targets", message: `at most ${MAX_FORWARD_TARGETS} addresses` });
  }
  if (problems.length) {
    throw new AppError(422, "validation_failed", "the forwarding has invalid fields", problems);
  }
  const now = deps.clock.now();
  await deps.store.batch([
    targets.length === 0
      ? { sql: "DELETE FROM account_forwarding WHERE account_id = ?", args: [account.id] }
      : {
        sql: `INSERT INTO account_forwarding (account_id, targets, keep_copy, updated_at)
          VALUES (?, ?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET targets = excluded.targets,
          keep_copy = excluded.keep_copy, updated_at = excluded.updated_at`,
        args: [account.id, JSON.stringify(targets), input.keepCopy ? 1 : 0, now],
      },
  ]);
  return { targets, keepCopy: targets.length === 0 ? true : input.keepCopy };
}

type AnyTarget = { kind: "account"; accountId: number } | { kind: "remote"; address: string };

/**
 * One recipient's targets with SRS bounces and account forwarding applied (delivery.ts calls
 * this in place of `resolveRecipient`): an SRS address of ours goes to the address it stands for
 * (none when its hash or age fails: 550 5.1.1); an account that forwards adds its targets
 * (resolved once more, without applying their own forwarding: no loops) and drops its own copy
 * unless it keeps one.
 */
export async function routeRecipient<T extends AnyTarget>(
  deps: Deps,
  db: Queryable,
  recipient: string,
  junk: boolean,
  resolve: () => Promise<T[] | undefined>,
  resolveTarget: (address: string) => Promise<T[] | undefined>,
): Promise<T[] | undefined> {
  const srs = await srsRoute(deps, db, recipient);
  if (srs) return srs.ok ? [{ kind: "remote", address: srs.address } as T] : [];
  const targets = await resolve();
  if (!targets || junk) return targets;
  const out: T[] = [];
  for (const target of targets) {
    const forwarding = target.kind === "account"
      ? await forwardingOf(db, target.accountId)
      : undefined;
    if (!forwarding || forwarding.targets.length === 0) {
      out.push(target);
      continue;
    }
    if (forwarding.keepCopy) out.push(target);
    for (const address of forwarding.targets) out.push(...(await resolveTarget(address) ?? []));
  }
  return out;
}

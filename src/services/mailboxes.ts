/**
 * An account's mailboxes: listing with counts, create, rename (with every sub-mailbox: RFC 3501
 * section 6.3.5), subscribe (section 6.3.6) and delete (section 6.3.4). Special-use mailboxes
 * (RFC 6154) are fixed: they cannot be renamed or deleted. Every query is bound to one account,
 * so another account's mailbox id is simply "not found".
 */
import { and, eq, sql } from "drizzle-orm";
import {
  canonicalMailboxName,
  type Mailbox,
  MAILBOX_SEPARATOR,
  mailboxNameProblem,
} from "../../schemas/api_mail.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import type { Queryable, Statement } from "../store/store.ts";
import { assertStep, isFailedAssertion, rawSql, schema } from "../store/store.ts";
import { inJson, retryStale } from "../store/optimistic.ts";
import { type MailboxRole, newUidValidity } from "./accounts.ts";
import { type PurgeRow, purgeStatements } from "./message_store.ts";
import { recoveryOn } from "./recovery_sql.ts";
import { retentionOf, setRetentionStatement } from "./retention.ts";

type MailboxRow = typeof schema.mailboxes.$inferSelect;

const protectedError = (what: string) => new AppError(409, "mailbox_protected", what);

function invalidName(problem: string): AppError {
  return new AppError(422, "validation_failed", `invalid mailbox name: ${problem}`, [
    { path: "name", message: problem },
  ]);
}

/** The mailbox when it belongs to the account, else undefined. */
export async function findMailbox(
  db: Queryable,
  accountId: number,
  id: number,
): Promise<MailboxRow | undefined> {
  const [row] = await db.select().from(schema.mailboxes).where(and(
    eq(schema.mailboxes.id, id),
    eq(schema.mailboxes.accountId, accountId),
  ));
  return row;
}

export async function requireMailbox(db: Queryable, accountId: number, id: number) {
  const row = await findMailbox(db, accountId, id);
  if (!row) throw notFound("mailbox");
  return row;
}

export async function mailboxByRole(
  db: Queryable,
  accountId: number,
  role: NonNullable<MailboxRow["role"]>,
): Promise<MailboxRow | undefined> {
  const [row] = await db.select().from(schema.mailboxes).where(and(
    eq(schema.mailboxes.accountId, accountId),
    eq(schema.mailboxes.role, role),
  ));
  return row;
}

interface Counts {
  total: number;
  unread: number;
  sizeBytes: number;
}

/**
 * Per-mailbox counts. Selected by the account's mailbox ids rather than `messages.account_id`, so
 * SQLite reads the covering index `messages_mailbox_uid_flags` (mailbox, …, size, seen) and never
 * the rows: on a 100,000-message Inbox that took the folder list from ~770 ms to a few tens.
 * A message's mailbox always belongs to the message's account, so the answer is the same.
 */
async function countsFor(db: Queryable, accountId: number, mailboxId?: number) {
  const m = schema.messages;
  const own =
    sql`(SELECT ${schema.mailboxes.id} FROM ${schema.mailboxes} WHERE ${schema.mailboxes.accountId} = ${accountId})`;
  const rows = await db.select({
    mailboxId: m.mailboxId,
    total: sql<number>`count(*)`,
    unread: sql<number>`coalesce(sum(${m.seen} = 0), 0)`,
    sizeBytes: sql<number>`coalesce(sum(${m.size}), 0)`,
  }).from(m).where(
    mailboxId === undefined
      ? sql`${m.mailboxId} IN ${own}`
      : and(eq(m.mailboxId, mailboxId), sql`${m.mailboxId} IN ${own}`),
  ).groupBy(m.mailboxId);
  const out = new Map<number, Counts>();
  for (const r of rows) {
    out.set(r.mailboxId, {
      total: Number(r.total),
      unread: Number(r.unread),
      sizeBytes: Number(r.sizeBytes),
    });
  }
  return out;
}

function toMailbox(row: MailboxRow, counts?: Counts, retentionDays?: number | null): Mailbox {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    uidValidity: row.uidValidity,
    uidNext: row.uidNext,
    highestModseq: row.highestModseq,
    subscribed: row.subscribed,
    retentionDays: retentionDays ?? null,
    counts: counts ?? { total: 0, unread: 0, sizeBytes: 0 },
  };
}

export async function listMailboxes(db: Queryable, accountId: number): Promise<Mailbox[]> {
  const rows = await db.select().from(schema.mailboxes)
    .where(eq(schema.mailboxes.accountId, accountId));
  const [counts, retention] = await Promise.all([
    countsFor(db, accountId),
    retentionOf(db, rows.map((r) => r.id)),
  ]);
  // INBOX first, then by name, so a tree can be drawn in one pass.
  rows.sort((a, b) =>
    (a.role === "inbox" ? 0 : 1) - (b.role === "inbox" ? 0 : 1) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  return rows.map((r) => toMailbox(r, counts.get(r.id), retention.get(r.id)));
}

export async function getMailbox(db: Queryable, accountId: number, id: number): Promise<Mailbox> {
  const row = await requireMailbox(db, accountId, id);
  const [counts, retention] = await Promise.all([
    countsFor(db, accountId, id),
    retentionOf(db, [id]),
  ]);
  return toMailbox(row, counts.get(id), retention.get(id));
}

function checkName(input: string): string {
  const problem = mailboxNameProblem(input);
  if (problem) throw invalidName(problem);
  const name = canonicalMailboxName(input);
  if (name === "INBOX") {
    throw new AppError(409, "already_exists", "INBOX is reserved");
  }
  return name;
}

async function nameTaken(db: Queryable, accountId: number, name: string): Promise<boolean> {
  const [row] = await db.select({ id: schema.mailboxes.id }).from(schema.mailboxes)
    .where(and(eq(schema.mailboxes.accountId, accountId), eq(schema.mailboxes.name, name)));
  return row !== undefined;
}

/**
 * A mailbox event about `mailbox` (an id, or `"inserted"`: the row the step before inserted),
 * written only `when` (SQL) holds.
 */
function eventStep(
  accountId: number,
  type: string,
  mailbox: number | "inserted",
  data: Record<string, unknown>,
  when = "1",
): Statement {
  const inserted = mailbox === "inserted";
  return {
    sql: `INSERT INTO events (account_id, type, mailbox_id, data)
      SELECT ?, ?, ${inserted ? "last_insert_rowid()" : "?"}, ? WHERE ${when}`,
    args: [accountId, type, ...(inserted ? [] : [mailbox]), JSON.stringify(data)],
  };
}

/** A new mailbox row; with `orNothing`, none when the name is taken (else that fails the job). */
function insertStep(
  deps: Deps,
  accountId: number,
  name: string,
  orNothing: boolean,
  role: MailboxRole | null = null,
): Statement {
  return {
    sql: `INSERT INTO mailboxes (account_id, name, role, uid_validity) VALUES (?, ?, ?, ?)${
      orNothing ? " ON CONFLICT (account_id, name) DO NOTHING" : ""
    } RETURNING id`,
    args: [accountId, name, role, newUidValidity(deps.clock.now())],
  };
}

/**
 * Creates every missing superior of `name` ("a" and "a/b" for "a/b/c"), as IMAP CREATE may: a
 * row unless one of that name exists when the job runs, and its event only when it went in.
 */
function createParents(deps: Deps, accountId: number, name: string): Statement[] {
  const segments = name.split(MAILBOX_SEPARATOR);
  const statements: Statement[] = [];
  for (let i = 1; i < segments.length; i++) {
    const parent = segments.slice(0, i).join(MAILBOX_SEPARATOR);
    if (parent === "INBOX") continue;
    statements.push(
      insertStep(deps, accountId, parent, true),
      eventStep(accountId, "mailbox.created", "inserted", { name: parent }, "changes() = 1"),
    );
  }
  return statements;
}

/** A UNIQUE failure of a mailbox name: another writer took it between the read and the job. */
function nameRace(error: unknown, name: string): unknown {
  return /UNIQUE constraint failed: mailboxes\.account_id, mailboxes\.name/.test(String(error))
    ? new AppError(409, "already_exists", `a mailbox named "${name}" already exists`)
    : error;
}

/**
 * A new mailbox, optionally with a special use (RFC 6154 CREATE-SPECIAL-USE, JMAP `role`):
 * each role belongs to one mailbox of the account (RFC 8621 section 2), so a role another
 * mailbox holds is refused (409 `role_taken`), re-checked in SQL against a concurrent twin.
 */
export async function createMailbox(
  deps: Deps,
  accountId: number,
  input: string,
  role: MailboxRole | null = null,
) {
  const name = checkName(input);
  if (await nameTaken(deps.store.db, accountId, name)) {
    throw new AppError(409, "already_exists", `a mailbox named "${name}" already exists`);
  }
  if (role === "inbox") throw protectedError("only INBOX is the inbox");
  const roleTaken = async () => {
    const [holder] = await deps.store.db.select({ name: schema.mailboxes.name })
      .from(schema.mailboxes)
      .where(and(eq(schema.mailboxes.accountId, accountId), eq(schema.mailboxes.role, role!)));
    return holder && new AppError(
      409,
      "role_taken",
      `the ${role} mailbox is "${holder.name}"; each special use belongs to one mailbox`,
    );
  };
  if (role) {
    const taken = await roleTaken();
    if (taken) throw taken;
  }
  // One write job: the unique (account, name) index refuses a concurrent twin in SQL.
  const statements = [
    ...(role
      ? [assertStep(
        "NOT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = ? AND role = ?)",
        [accountId, role],
      )]
      : []),
    ...createParents(deps, accountId, name),
    insertStep(deps, accountId, name, false, role),
    eventStep(accountId, "mailbox.created", "inserted", role ? { name, role } : { name }),
  ];
  const results = await deps.store.batch(statements).catch(async (e) => {
    if (role && isFailedAssertion(e)) throw (await roleTaken()) ?? e;
    throw nameRace(e, name);
  });
  const id = Number(results[statements.length - 2].rows[0].id);
  deps.bus.notify(accountId);
  return await getMailbox(deps.store.db, accountId, id);
}

/** The mailboxes below `name` in the hierarchy (not `name` itself). */
async function descendants(tx: Queryable, accountId: number, name: string) {
  const prefix = name + MAILBOX_SEPARATOR;
  // substr() rather than LIKE: names may hold "%" "_" literally (LIKE would treat them as wildcards).
  return await tx.select().from(schema.mailboxes).where(and(
    eq(schema.mailboxes.accountId, accountId),
    sql`substr(${schema.mailboxes.name}, 1, ${prefix.length}) = ${prefix}`,
  ));
}

export async function updateMailbox(
  deps: Deps,
  accountId: number,
  id: number,
  patch: { name?: string; subscribed?: boolean; retentionDays?: number | null },
) {
  const newName = patch.name === undefined ? undefined : checkName(patch.name);
  const db = deps.store.db;
  await retryStale(async () => {
    const box = await requireMailbox(db, accountId, id);
    // What the reads decided, re-checked by the job: the box still has the name it had.
    const statements: Statement[] = [assertStep(
      "EXISTS (SELECT 1 FROM mailboxes WHERE id = ? AND account_id = ? AND name = ?)",
      [id, accountId, box.name],
    )];
    let renamedTo: string | undefined;
    if (newName !== undefined && newName !== box.name) {
      if (box.role) throw protectedError(`the ${box.role} mailbox cannot be renamed`);
      if (newName.startsWith(box.name + MAILBOX_SEPARATOR)) {
        throw new AppError(409, "conflict", "a mailbox cannot be moved below itself");
      }
      const children = await descendants(db, accountId, box.name);
      if (children.some((c) => c.role)) {
        throw protectedError("a special-use mailbox below this one cannot be renamed");
      }
      const renames = [
        { row: box, to: newName },
        ...children.map((c) => ({
          row: c,
          to: newName + c.name.slice(box.name.length),
        })),
      ];
      for (const r of renames) {
        if (r.to.length > 200) throw invalidName(`"${r.to}" would be longer than 200 characters`);
        if (await nameTaken(db, accountId, r.to)) {
          throw new AppError(409, "already_exists", `a mailbox named "${r.to}" already exists`);
        }
      }
      // No sub-mailbox came or went since the read (it would be left behind, or renamed twice).
      statements.push(assertStep(
        "(SELECT count(*) FROM mailboxes WHERE account_id = ? AND substr(name, 1, ?) = ?) = ?",
        [accountId, box.name.length + 1, box.name + MAILBOX_SEPARATOR, children.length],
      ));
      for (const r of renames) {
        statements.push(
          {
            sql: "UPDATE mailboxes SET name = ? WHERE id = ? AND name = ?",
            args: [r.to, r.row.id, r.row.name],
          },
          assertStep("changes() = 1"),
          eventStep(accountId, "mailbox.updated", r.row.id, { name: r.to, from: r.row.name }),
        );
      }
      statements.push(...createParents(deps, accountId, newName));
      renamedTo = newName;
    }
    if (patch.subscribed !== undefined && patch.subscribed !== box.subscribed) {
      statements.push(
        {
          sql: "UPDATE mailboxes SET subscribed = ? WHERE id = ?",
          args: [patch.subscribed ? 1 : 0, id],
        },
        eventStep(accountId, "mailbox.updated", id, { subscribed: patch.subscribed }),
      );
    }
    if (patch.retentionDays !== undefined) {
      statements.push(
        setRetentionStatement(id, patch.retentionDays, deps.clock.now()),
        eventStep(accountId, "mailbox.updated", id, { retentionDays: patch.retentionDays }),
      );
    }
    if (statements.length === 1) return;
    await deps.store.batch(statements).catch((e) => {
      throw nameRace(e, renamedTo ?? box.name);
    });
  });
  deps.bus.notify(accountId);
  return await getMailbox(deps.store.db, accountId, id);
}

/**
 * Deletes a mailbox. One holding messages or sub-mailboxes is refused unless `force`, which
 * purges its messages (quota and blobs freed) and deletes the sub-mailboxes with it.
 */
export async function deleteMailbox(deps: Deps, accountId: number, id: number, force: boolean) {
  const db = deps.store.db;
  await retryStale(async () => {
    const box = await requireMailbox(db, accountId, id);
    if (box.role) throw protectedError(`the ${box.role} mailbox cannot be deleted`);
    const children = await descendants(db, accountId, box.name);
    if (children.some((c) => c.role)) {
      throw protectedError("a special-use mailbox below this one cannot be deleted");
    }
    const doomed = [box, ...children];
    if (!force) {
      if (children.length > 0) {
        throw new AppError(
          409,
          "mailbox_not_empty",
          "the mailbox has sub-mailboxes; delete them first or pass force=true",
        );
      }
      const [hit] = await db.select({ id: schema.messages.id }).from(schema.messages)
        .where(eq(schema.messages.mailboxId, id)).limit(1);
      if (hit) {
        throw new AppError(
          409,
          "mailbox_not_empty",
          "the mailbox holds messages; move them or pass force=true",
        );
      }
    }
    const doomedIds = JSON.stringify(doomed.map((m) => m.id));
    const rows = await rawSql(db).all<PurgeRow>(
      `SELECT id, mailbox_id AS mailboxId, uid, modseq, thread_id AS threadId, size,
         blob_sha256 AS blobSha256 FROM messages WHERE account_id = ?1 AND mailbox_id ${
        inJson("?2")
      }`,
      [accountId, doomedIds],
    );
    // What the reads decided, re-checked by the job: the same sub-mailboxes, and no message in
    // the doomed ones but those read (a delivery meanwhile makes the job read again).
    const statements: Statement[] = [
      assertStep(
        "(SELECT count(*) FROM mailboxes WHERE account_id = ? AND substr(name, 1, ?) = ?) = ?",
        [accountId, box.name.length + 1, box.name + MAILBOX_SEPARATOR, children.length],
      ),
      assertStep(`(SELECT count(*) FROM messages WHERE mailbox_id ${inJson("?1")}) = ?2`, [
        doomedIds,
        rows.length,
      ]),
      ...purgeStatements(accountId, rows, { recover: recoveryOn(deps.config) }),
    ];
    for (const m of doomed) {
      statements.push(
        { sql: "DELETE FROM expunged WHERE mailbox_id = ?", args: [m.id] },
        { sql: "DELETE FROM mailboxes WHERE id = ? AND account_id = ?", args: [m.id, accountId] },
        eventStep(accountId, "mailbox.deleted", m.id, { name: m.name }),
      );
    }
    await deps.store.batch(statements);
  });
  deps.bus.notify(accountId);
}

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
import type { Queryable, Tx } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { newUidValidity } from "./accounts.ts";
import { purgeMessages } from "./message_store.ts";

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

function toMailbox(row: MailboxRow, counts?: Counts): Mailbox {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    uidValidity: row.uidValidity,
    uidNext: row.uidNext,
    highestModseq: row.highestModseq,
    subscribed: row.subscribed,
    counts: counts ?? { total: 0, unread: 0, sizeBytes: 0 },
  };
}

export async function listMailboxes(db: Queryable, accountId: number): Promise<Mailbox[]> {
  const rows = await db.select().from(schema.mailboxes)
    .where(eq(schema.mailboxes.accountId, accountId));
  const counts = await countsFor(db, accountId);
  // INBOX first, then by name, so a tree can be drawn in one pass.
  rows.sort((a, b) =>
    (a.role === "inbox" ? 0 : 1) - (b.role === "inbox" ? 0 : 1) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  return rows.map((r) => toMailbox(r, counts.get(r.id)));
}

export async function getMailbox(db: Queryable, accountId: number, id: number): Promise<Mailbox> {
  const row = await requireMailbox(db, accountId, id);
  return toMailbox(row, (await countsFor(db, accountId, id)).get(id));
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

async function nameTaken(tx: Tx, accountId: number, name: string): Promise<boolean> {
  const [row] = await tx.select({ id: schema.mailboxes.id }).from(schema.mailboxes)
    .where(and(eq(schema.mailboxes.accountId, accountId), eq(schema.mailboxes.name, name)));
  return row !== undefined;
}

async function event(
  tx: Tx,
  accountId: number,
  type: string,
  mailboxId: number,
  data: Record<string, unknown>,
) {
  await tx.insert(schema.events).values({
    accountId,
    type,
    mailboxId,
    data: JSON.stringify(data),
  });
}

/** Creates every missing superior of `name` ("a" and "a/b" for "a/b/c"), as IMAP CREATE may. */
async function createParents(deps: Deps, tx: Tx, accountId: number, name: string) {
  const segments = name.split(MAILBOX_SEPARATOR);
  for (let i = 1; i < segments.length; i++) {
    const parent = segments.slice(0, i).join(MAILBOX_SEPARATOR);
    if (parent === "INBOX" || await nameTaken(tx, accountId, parent)) continue;
    const [row] = await tx.insert(schema.mailboxes).values({
      accountId,
      name: parent,
      uidValidity: newUidValidity(deps.clock.now()),
    }).returning();
    await event(tx, accountId, "mailbox.created", row.id, { name: parent });
  }
}

export async function createMailbox(deps: Deps, accountId: number, input: string) {
  const name = checkName(input);
  const id = await deps.store.write(async (tx) => {
    if (await nameTaken(tx, accountId, name)) {
      throw new AppError(409, "already_exists", `a mailbox named "${name}" already exists`);
    }
    await createParents(deps, tx, accountId, name);
    const [row] = await tx.insert(schema.mailboxes).values({
      accountId,
      name,
      uidValidity: newUidValidity(deps.clock.now()),
    }).returning();
    await event(tx, accountId, "mailbox.created", row.id, { name });
    return row.id;
  });
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
  patch: { name?: string; subscribed?: boolean },
) {
  const newName = patch.name === undefined ? undefined : checkName(patch.name);
  await deps.store.write(async (tx) => {
    const box = await requireMailbox(tx, accountId, id);
    const changes: Record<string, unknown> = {};
    if (newName !== undefined && newName !== box.name) {
      if (box.role) throw protectedError(`the ${box.role} mailbox cannot be renamed`);
      if (newName.startsWith(box.name + MAILBOX_SEPARATOR)) {
        throw new AppError(409, "conflict", "a mailbox cannot be moved below itself");
      }
      const children = await descendants(tx, accountId, box.name);
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
        if (await nameTaken(tx, accountId, r.to)) {
          throw new AppError(409, "already_exists", `a mailbox named "${r.to}" already exists`);
        }
      }
      for (const r of renames) {
        await tx.update(schema.mailboxes).set({ name: r.to })
          .where(eq(schema.mailboxes.id, r.row.id));
        await event(tx, accountId, "mailbox.updated", r.row.id, { name: r.to, from: r.row.name });
      }
      await createParents(deps, tx, accountId, newName);
      changes.name = newName;
    }
    if (patch.subscribed !== undefined && patch.subscribed !== box.subscribed) {
      await tx.update(schema.mailboxes).set({ subscribed: patch.subscribed })
        .where(eq(schema.mailboxes.id, id));
      changes.subscribed = patch.subscribed;
      await event(tx, accountId, "mailbox.updated", id, { subscribed: patch.subscribed });
    }
    return changes;
  });
  deps.bus.notify(accountId);
  return await getMailbox(deps.store.db, accountId, id);
}

/**
 * Deletes a mailbox. One holding messages or sub-mailboxes is refused unless `force`, which
 * purges its messages (quota and blobs freed) and deletes the sub-mailboxes with it.
 */
export async function deleteMailbox(deps: Deps, accountId: number, id: number, force: boolean) {
  await deps.store.write(async (tx) => {
    const box = await requireMailbox(tx, accountId, id);
    if (box.role) throw protectedError(`the ${box.role} mailbox cannot be deleted`);
    const children = await descendants(tx, accountId, box.name);
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
      const [hit] = await tx.select({ id: schema.messages.id }).from(schema.messages)
        .where(eq(schema.messages.mailboxId, id)).limit(1);
      if (hit) {
        throw new AppError(
          409,
          "mailbox_not_empty",
          "the mailbox holds messages; move them or pass force=true",
        );
      }
    }
    for (const m of doomed) {
      const ids = await tx.select({ id: schema.messages.id }).from(schema.messages)
        .where(and(eq(schema.messages.mailboxId, m.id), eq(schema.messages.accountId, accountId)));
      await purgeMessages(tx, accountId, ids.map((r) => r.id));
      await tx.delete(schema.expunged).where(eq(schema.expunged.mailboxId, m.id));
      await tx.delete(schema.mailboxes).where(eq(schema.mailboxes.id, m.id));
      await event(tx, accountId, "mailbox.deleted", m.id, { name: m.name });
    }
  });
  deps.bus.notify(accountId);
}

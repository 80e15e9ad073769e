/**
 * Thread/get and Thread/changes (RFC 8621 section 3), and Email/changes (section 4.3). A Thread
 * is Postern's conversation (built at delivery from References/In-Reply-To); its `emailIds` are
 * sorted by receivedAt, oldest first, as section 3 asks.
 */
import { and, asc, eq, inArray } from "drizzle-orm";
import { schema } from "../store/store.ts";
import { account, type Ctx } from "./context.ts";
import { emailIdOf, parseThreadId, threadIdOf } from "./ids.ts";
import type { Json } from "./protocol.ts";
import { idsArg, maxChangesArg, pick, propertiesArg } from "./standard.ts";
import { type Changes, changesSince, currentState, type DataType } from "./state.ts";

const m = schema.messages;

export async function threadGet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const db = ctx.deps.store.db;
  const properties = propertiesArg(args, ["id", "emailIds"]);
  const state = await currentState(db, accountId, "Thread");
  let ids = idsArg(ctx, args);
  if (ids === null) {
    const all = await db.select({ id: schema.threads.id }).from(schema.threads)
      .where(eq(schema.threads.accountId, accountId)).limit(ctx.limits.maxObjectsInGet + 1);
    ids = all.map((t) => threadIdOf(t.id));
    idsArg(ctx, { ids });
  }
  const numeric = ids.map(parseThreadId).filter((n): n is number => n !== undefined);
  const members = new Map<number, string[]>();
  for (let i = 0; i < numeric.length; i += 90) {
    const rows = await db.select({ id: m.id, threadId: m.threadId }).from(m)
      .where(and(eq(m.accountId, accountId), inArray(m.threadId, numeric.slice(i, i + 90))))
      .orderBy(asc(m.internalDate), asc(m.id));
    for (const r of rows) {
      const list = members.get(r.threadId) ?? [];
      list.push(emailIdOf(r.id));
      members.set(r.threadId, list);
    }
  }
  const list: Record<string, Json>[] = [];
  const notFound: string[] = [];
  for (const id of ids) {
    const emails = members.get(parseThreadId(id) ?? -1);
    if (emails) list.push(pick({ id, emailIds: emails }, properties));
    else notFound.push(id);
  }
  return { accountId: args.accountId, state, list, notFound };
}

/**
 * Foo/changes for a type whose ids are `idOf(row id)` (RFC 8620 section 5.2); `extra` adds
 * type-specific arguments (Mailbox's updatedProperties).
 */
export function changesMethod(
  type: DataType,
  idOf: (n: number) => string,
  extra: (c: Changes) => Record<string, Json> = () => ({}),
) {
  return async (ctx: Ctx, args: Record<string, Json>) => {
    const accountId = account(ctx, args);
    const c = await changesSince(
      ctx.deps.store.db,
      accountId,
      type,
      args.sinceState,
      maxChangesArg(args),
    );
    return {
      accountId: args.accountId,
      oldState: c.oldState,
      newState: c.newState,
      hasMoreChanges: c.hasMoreChanges,
      created: c.created.map(idOf),
      updated: c.updated.map(idOf),
      destroyed: c.destroyed.map(idOf),
      ...extra(c),
    };
  };
}

export const threadChanges = changesMethod("Thread", threadIdOf);
export const emailChanges = changesMethod("Email", emailIdOf);

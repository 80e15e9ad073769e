/**
 * Mailbox/get, /changes, /query, /queryChanges and /set (RFC 8621 section 2) over Postern's
 * mailboxes, whose hierarchy lives in the name ("a/b" is "b" below "a"): a JMAP Mailbox's
 * `name` is the last segment and `parentId` the mailbox named by the rest. Writes go through
 * the mailbox service (services/mailboxes.ts), so IMAP sees exactly what JMAP did; the
 * special-use mailboxes (RFC 6154 roles) can be neither renamed nor destroyed.
 */
import { eq, sql } from "drizzle-orm";
import { MAILBOX_SEPARATOR } from "../../schemas/api_mail.ts";
import { AppError } from "../errors.ts";
import type { MailboxRole } from "../services/accounts.ts";
import { createMailbox, deleteMailbox, updateMailbox } from "../services/mailboxes.ts";
import { schema } from "../store/store.ts";
import { account, type Ctx, requireWrite, resolveId } from "./context.ts";
import { mailboxIdOf, parseMailboxId } from "./ids.ts";
import { invalidArguments, type Json, MethodError, type SetError, setError } from "./protocol.ts";
import {
  applyPatch,
  checkIfInState,
  idsArg,
  pick,
  propertiesArg,
  queryChangesResponse,
  queryWindow,
  setArgs,
  SetOutcome,
} from "./standard.ts";
import { changesSince, currentState } from "./state.ts";
import { changesMethod } from "./thread.ts";

const PROPERTIES = [
  "id",
  "name",
  "parentId",
  "role",
  "sortOrder",
  "totalEmails",
  "unreadEmails",
  "totalThreads",
  "unreadThreads",
  "myRights",
  "isSubscribed",
] as const;
const COUNTS = ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"];

type Row = typeof schema.mailboxes.$inferSelect;

/** The account's mailboxes as JMAP objects, with counts from one grouped query. */
export async function loadMailboxes(ctx: Ctx, accountId: number) {
  const db = ctx.deps.store.db;
  const rows = await db.select().from(schema.mailboxes)
    .where(eq(schema.mailboxes.accountId, accountId));
  const counts = await db.all<
    { id: number; total: number; unread: number; threads: number; unreadThreads: number }
  >(sql`SELECT mailbox_id AS id, count(*) AS total, sum(seen = 0) AS unread,
    count(DISTINCT thread_id) AS threads,
    count(DISTINCT CASE WHEN seen = 0 THEN thread_id END) AS unreadThreads
    FROM messages WHERE account_id = ${accountId} GROUP BY mailbox_id`);
  const byId = new Map(counts.map((c) => [Number(c.id), c]));
  const byName = new Map(rows.map((r) => [r.name, r]));
  return rows.map((r) => toJmap(r, byName, byId.get(r.id)));
}

function toJmap(
  r: Row,
  byName: Map<string, Row>,
  c: { total: number; unread: number; threads: number; unreadThreads: number } | undefined,
) {
  const cut = r.name.lastIndexOf(MAILBOX_SEPARATOR);
  const parent = cut > 0 ? byName.get(r.name.slice(0, cut)) : undefined;
  const fixed = r.role !== null;
  return {
    id: mailboxIdOf(r.id),
    name: cut > 0 ? r.name.slice(cut + 1) : r.name,
    parentId: parent ? mailboxIdOf(parent.id) : null,
    role: r.role,
    // INBOX first, then the other special-use mailboxes, then the rest (section 2: lower first).
    sortOrder: r.role === "inbox" ? 0 : fixed ? 10 : 100,
    totalEmails: Number(c?.total ?? 0),
    unreadEmails: Number(c?.unread ?? 0),
    totalThreads: Number(c?.threads ?? 0),
    unreadThreads: Number(c?.unreadThreads ?? 0),
    myRights: {
      mayReadItems: true,
      mayAddItems: true,
      mayRemoveItems: true,
      maySetSeen: true,
      maySetKeywords: true,
      mayCreateChild: true,
      mayRename: !fixed,
      mayDelete: !fixed,
      maySubmit: true,
    },
    isSubscribed: r.subscribed,
    /** Not a JMAP property: the full hierarchical name, for sorting and renames. */
    _path: r.name,
  };
}
type JmapMailbox = ReturnType<typeof toJmap>;

export async function mailboxGet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const ids = idsArg(ctx, args);
  const properties = propertiesArg(args, PROPERTIES);
  const state = await currentState(ctx.deps.store.db, accountId, "Mailbox");
  const all = await loadMailboxes(ctx, accountId);
  const byId = new Map(all.map((m) => [m.id, m]));
  const list = ids === null ? all : ids.filter((i) => byId.has(i)).map((i) => byId.get(i)!);
  return {
    accountId: args.accountId,
    state,
    list: list.map((m) => pick(m, properties)),
    notFound: ids === null ? [] : ids.filter((i) => !byId.has(i)),
  };
}

export const mailboxChanges = changesMethod("Mailbox", mailboxIdOf, (c) => ({
  // Section 2.2: when only counts changed, a client can refetch just those.
  updatedProperties: c.updated.length > 0 && c.countsOnly ? COUNTS : null,
}));

/** Section 2.3 filter conditions, compiled to a predicate (an account has few mailboxes). */
function compileFilter(ctx: Ctx, filter: Json): (m: JmapMailbox) => boolean {
  if (filter === undefined || filter === null) return () => true;
  if (typeof filter !== "object" || Array.isArray(filter)) {
    throw invalidArguments('"filter" must be an object');
  }
  if ("operator" in filter) {
    const parts = (Array.isArray(filter.conditions) ? filter.conditions : []).map((f: Json) =>
      compileFilter(ctx, f)
    );
    switch (filter.operator) {
      case "AND":
        return (m) => parts.every((p: (m: JmapMailbox) => boolean) => p(m));
      case "OR":
        return (m) => parts.some((p: (m: JmapMailbox) => boolean) => p(m));
      case "NOT":
        return (m) => !parts.some((p: (m: JmapMailbox) => boolean) => p(m));
    }
    throw new MethodError("unsupportedFilter", `unknown operator ${filter.operator}`);
  }
  const tests: ((m: JmapMailbox) => boolean)[] = [];
  for (const [key, value] of Object.entries(filter as Record<string, Json>)) {
    switch (key) {
      case "parentId":
        tests.push((m) => m.parentId === (resolveId(ctx, value) ?? null));
        break;
      case "name":
        tests.push((m) => m.name.toLowerCase().includes(String(value).toLowerCase()));
        break;
      case "role":
        tests.push((m) => m.role === value);
        break;
      case "hasAnyRole":
        tests.push((m) => (m.role !== null) === value);
        break;
      case "isSubscribed":
        tests.push((m) => m.isSubscribed === value);
        break;
      default:
        throw new MethodError("unsupportedFilter", `unknown filter property "${key}"`);
    }
  }
  return (m) => tests.every((t) => t(m));
}

function compileSort(sort: Json): (a: JmapMailbox, b: JmapMailbox) => number {
  const list = sort ?? [];
  if (!Array.isArray(list)) throw invalidArguments('"sort" must be an array');
  const keys = list.map((c: Json) => {
    if (c?.property !== "sortOrder" && c?.property !== "name") {
      throw new MethodError("unsupportedSort", `cannot sort mailboxes by ${c?.property}`);
    }
    return { property: c.property as "sortOrder" | "name", asc: c.isAscending !== false };
  });
  return (a, b) => {
    for (const k of keys) {
      const x = a[k.property];
      const y = b[k.property];
      const d = typeof x === "number"
        ? x - (y as number)
        : String(x).localeCompare(String(y), undefined, { sensitivity: "base" });
      if (d !== 0) return k.asc ? d : -d;
    }
    return a._path < b._path ? -1 : a._path > b._path ? 1 : 0;
  };
}

async function queryIds(ctx: Ctx, accountId: number, args: Record<string, Json>) {
  const all = await loadMailboxes(ctx, accountId);
  const test = compileFilter(ctx, args.filter);
  const order = compileSort(args.sort);
  let list = all.filter(test).sort(order);
  if (args.sortAsTree === true || args.filterAsTree === true) {
    // Parents before children (section 2.3): the hierarchy is the path, so sort by it.
    const byPath = (m: JmapMailbox) => m._path.split(MAILBOX_SEPARATOR);
    list = list.sort((a, b) => {
      const pa = byPath(a);
      const pb = byPath(b);
      for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
        if (pa[i] !== pb[i]) return order(a, b);
      }
      return pa.length - pb.length;
    });
    if (args.filterAsTree === true) {
      const kept = new Set(list.map((m) => m.id));
      list = list.filter((m) => m.parentId === null || kept.has(m.parentId));
    }
  }
  return list.map((m) => m.id);
}

export async function mailboxQuery(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const ids = await queryIds(ctx, accountId, args);
  return {
    accountId: args.accountId,
    queryState: await currentState(ctx.deps.store.db, accountId, "Mailbox"),
    canCalculateChanges: true,
    ...queryWindow(ids, args, 10_000),
  };
}

export async function mailboxQueryChanges(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const c = await changesSince(
    ctx.deps.store.db,
    accountId,
    "Mailbox",
    args.sinceQueryState,
    undefined,
  );
  const ids = await queryIds(ctx, accountId, args);
  const changed = new Set([...c.created, ...c.updated, ...c.destroyed].map(mailboxIdOf));
  return queryChangesResponse(args, c, ids, changed);
}

/** An AppError of the mailbox service as the SetError JMAP names for it. */
function mailboxSetError(e: unknown): SetError {
  if (!(e instanceof AppError)) throw e;
  switch (e.code) {
    case "mailbox_protected":
      return setError("forbidden", e.message);
    case "mailbox_not_empty":
      return setError(
        e.message.includes("sub-mailboxes") ? "mailboxHasChild" : "mailboxHasEmail",
        e.message,
      );
    case "not_found":
      return setError("notFound", e.message);
    case "already_exists":
    case "conflict":
    case "validation_failed":
      return setError("invalidProperties", e.message, ["name"]);
    case "role_taken":
      return setError("invalidProperties", e.message, ["role"]);
  }
  throw e;
}

const WRITABLE = new Set(["name", "parentId", "isSubscribed", "role", "sortOrder"]);
const CREATABLE_ROLES = new Set(["sent", "drafts", "trash", "junk", "archive"]);

/** The full name for a JMAP name under a parent; a SetError when it cannot be one. */
function fullName(
  ctx: Ctx,
  byId: Map<string, JmapMailbox>,
  name: Json,
  parentId: Json,
): string | SetError {
  if (typeof name !== "string" || name === "" || name.includes(MAILBOX_SEPARATOR)) {
    return setError(
      "invalidProperties",
      `a name is 1-200 characters without "${MAILBOX_SEPARATOR}"`,
      ["name"],
    );
  }
  if (parentId === null || parentId === undefined) return name;
  const parent = byId.get(String(resolveId(ctx, parentId)));
  if (!parent) return setError("invalidProperties", "no such parent mailbox", ["parentId"]);
  return parent._path + MAILBOX_SEPARATOR + name;
}

/** Checks the properties a client may not set or change (section 2.5). */
function readOnlyProblem(current: JmapMailbox | undefined, next: Record<string, Json>) {
  const bad = Object.keys(next).filter((k) => {
    if (!PROPERTIES.includes(k as (typeof PROPERTIES)[number])) return true;
    if (WRITABLE.has(k) && k !== "role" && k !== "sortOrder") return false;
    // Server-set (counts, rights, id) or fixed here (role, sortOrder): only their value passes.
    // A new mailbox may take a role no other holds (RFC 8621 section 2), never "inbox".
    const now = current?.[k as keyof JmapMailbox];
    if (current === undefined) {
      if (k === "sortOrder") return false;
      return k !== "role" || !(next[k] === null || CREATABLE_ROLES.has(next[k] as string));
    }
    return JSON.stringify(now) !== JSON.stringify(next[k]);
  });
  return bad.length > 0
    ? setError("invalidProperties", "these properties cannot be set here", bad)
    : undefined;
}

export async function mailboxSet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  requireWrite(ctx);
  const db = ctx.deps.store.db;
  const oldState = await currentState(db, accountId, "Mailbox");
  checkIfInState(args, oldState);
  const { create, update, destroy } = setArgs(ctx, args);
  const out = new SetOutcome();
  const { created, notCreated, updated, notUpdated, destroyed, notDestroyed } = out;
  const index = async () => new Map((await loadMailboxes(ctx, accountId)).map((m) => [m.id, m]));

  for (const [cid, input] of Object.entries(create)) {
    const byId = await index();
    const problem = readOnlyProblem(undefined, input);
    const name = problem ?? fullName(ctx, byId, input.name, input.parentId);
    if (typeof name !== "string") {
      notCreated[cid] = name;
      continue;
    }
    try {
      const role = typeof input.role === "string" ? input.role as MailboxRole : null;
      const box = await createMailbox(ctx.deps, accountId, name, role);
      if (input.isSubscribed === false) {
        await updateMailbox(ctx.deps, accountId, box.id, { subscribed: false });
      }
      const id = mailboxIdOf(box.id);
      ctx.created.set(cid, id);
      const made = (await index()).get(id)!;
      created[cid] = pick(made, PROPERTIES.filter((p) => !(p in input)));
    } catch (e) {
      notCreated[cid] = mailboxSetError(e);
    }
  }

  for (const [id, patch] of Object.entries(update)) {
    const byId = await index();
    const current = byId.get(id);
    const rowId = parseMailboxId(id);
    if (!current || rowId === undefined) {
      notUpdated[id] = setError("notFound");
      continue;
    }
    const next = applyPatch(current, patch);
    if (!next) {
      notUpdated[id] = setError("invalidPatch", "the patch does not apply");
      continue;
    }
    delete next._path;
    const problem = readOnlyProblem(current, next);
    if (problem) {
      notUpdated[id] = problem;
      continue;
    }
    try {
      if (next.name !== current.name || next.parentId !== current.parentId) {
        if (next.parentId !== null && resolveId(ctx, next.parentId) === id) {
          notUpdated[id] = setError("invalidProperties", "a mailbox cannot be its own parent", [
            "parentId",
          ]);
          continue;
        }
        const name = fullName(ctx, byId, next.name, next.parentId);
        if (typeof name !== "string") {
          notUpdated[id] = name;
          continue;
        }
        await updateMailbox(ctx.deps, accountId, rowId, { name });
      }
      if (next.isSubscribed !== current.isSubscribed) {
        await updateMailbox(ctx.deps, accountId, rowId, { subscribed: next.isSubscribed === true });
      }
      updated[id] = null;
    } catch (e) {
      notUpdated[id] = mailboxSetError(e);
    }
  }

  for (const id of destroy) {
    const byId = await index();
    const rowId = parseMailboxId(id);
    if (!byId.has(id) || rowId === undefined) {
      notDestroyed[id] = setError("notFound");
      continue;
    }
    // Section 2.5: a mailbox with children is refused whatever onDestroyRemoveEmails says.
    if ([...byId.values()].some((m) => m.parentId === id && !destroy.includes(m.id))) {
      notDestroyed[id] = setError("mailboxHasChild", "the mailbox has child mailboxes");
      continue;
    }
    try {
      await deleteMailbox(ctx.deps, accountId, rowId, args.onDestroyRemoveEmails === true);
      destroyed.push(id);
    } catch (e) {
      notDestroyed[id] = mailboxSetError(e);
    }
  }
  return out.response(args.accountId, oldState, await currentState(db, accountId, "Mailbox"));
}

/**
 * Identity/get, /changes and /set (RFC 8621 section 6). An account may send as its own address
 * and as every alias that delivers to it (services/send.ts assertMaySendAs), and those are its
 * identities: `i<account id>` for the address, `ia<alias id>` for aliases. They follow the
 * account and its aliases, which administrators manage, so Identity/set refuses every change
 * with `forbidden` (section 6.3 allows a server to).
 */
import { eq, sql } from "drizzle-orm";
import { addressKey } from "../services/accounts.ts";
import { schema } from "../store/store.ts";
import { sha256Hex } from "../crypto.ts";
import { account, type Ctx } from "./context.ts";
import { type Json, MethodError, setError } from "./protocol.ts";
import { idsArg, pick, propertiesArg, setArgs, SetOutcome } from "./standard.ts";

const PROPERTIES = [
  "id",
  "name",
  "email",
  "replyTo",
  "bcc",
  "textSignature",
  "htmlSignature",
  "mayDelete",
];

export interface Identity {
  id: string;
  name: string;
  email: string;
  replyTo: null;
  bcc: null;
  textSignature: string;
  htmlSignature: string;
  mayDelete: false;
}

export async function identities(ctx: Ctx, accountId: number): Promise<Identity[]> {
  const db = ctx.deps.store.db;
  const [me] = await db.select().from(schema.accounts).where(eq(schema.accounts.id, accountId));
  const make = (id: string, email: string): Identity => ({
    id,
    name: me?.displayName ?? "",
    email,
    replyTo: null,
    bcc: null,
    textSignature: "",
    htmlSignature: "",
    mayDelete: false,
  });
  if (!me) return [];
  const aliases = await db.all<{ id: number; address: string }>(sql`SELECT id, address
    FROM aliases WHERE EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(targets)
    THEN targets ELSE '[]' END) WHERE lower(value) = ${addressKey(me.address)}) ORDER BY id`);
  return [make(`i${me.id}`, me.address), ...aliases.map((a) => make(`ia${a.id}`, a.address))];
}

/** The state: a digest of the identities (they change only with the account and aliases). */
async function stateOf(list: Identity[]) {
  return (await sha256Hex(JSON.stringify(list))).slice(0, 16);
}

export async function identityGet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const ids = idsArg(ctx, args);
  const properties = propertiesArg(args, PROPERTIES);
  const all = await identities(ctx, accountId);
  const list = ids === null ? all : all.filter((i) => ids.includes(i.id));
  return {
    accountId: args.accountId,
    state: await stateOf(all),
    list: list.map((i) => pick(i as unknown as Record<string, Json>, properties)),
    notFound: ids === null ? [] : ids.filter((i) => !all.some((x) => x.id === i)),
  };
}

export async function identityChanges(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const all = await identities(ctx, accountId);
  const state = await stateOf(all);
  // A digest cannot say what changed: the client refetches (RFC 8620 section 5.2).
  if (args.sinceState !== state) {
    throw new MethodError("cannotCalculateChanges", "identities changed; fetch them again");
  }
  return {
    accountId: args.accountId,
    oldState: state,
    newState: state,
    hasMoreChanges: false,
    created: [],
    updated: [],
    destroyed: [],
  };
}

export async function identitySet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const all = await identities(ctx, accountId);
  const state = await stateOf(all);
  const { create, update, destroy } = setArgs(ctx, args);
  const out = new SetOutcome();
  const why = "identities are the account's address and aliases, managed by administrators";
  for (const id of Object.keys(create)) out.notCreated[id] = setError("forbidden", why);
  for (const id of Object.keys(update)) out.notUpdated[id] = setError("forbidden", why);
  for (const id of destroy) out.notDestroyed[id] = setError("forbidden", why);
  return out.response(args.accountId, state, state);
}

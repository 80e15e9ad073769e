/**
 * Identity/get, /changes and /set (RFC 8621 section 6). An account may send as its own address
 * and as every alias that delivers to it (services/send.ts assertMaySendAs), and those are its
 * identities: `i<account id>` for the address, `ia<alias id>` for aliases. They follow the
 * account and its aliases, which administrators manage, so Identity/set cannot create or
 * destroy one (`forbidden`, as section 6.3 allows); it updates what the user owns: the name,
 * the Reply-To and Bcc hints and the signatures (kept in `jmap_identities`).
 */
import { eq, sql } from "drizzle-orm";
import { parseAddress } from "../../schemas/address.ts";
import { addressKey } from "../services/accounts.ts";
import { schema } from "../store/store.ts";
import { sha256Hex } from "../crypto.ts";
import { account, type Ctx, requireWrite } from "./context.ts";
import { type Json, MethodError, type SetError, setError } from "./protocol.ts";
import {
  applyPatch,
  checkIfInState,
  idsArg,
  pick,
  propertiesArg,
  setArgs,
  SetOutcome,
} from "./standard.ts";

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

type EmailAddress = { name: string | null; email: string };

export interface Identity {
  id: string;
  name: string;
  email: string;
  replyTo: EmailAddress[] | null;
  bcc: EmailAddress[] | null;
  textSignature: string;
  htmlSignature: string;
  mayDelete: false;
}

/** What Identity/set may change; the rest is the server's. */
const USER_SET = ["name", "replyTo", "bcc", "textSignature", "htmlSignature"] as const;
const MAX_NAME = 256;
const MAX_SIGNATURE = 64 * 1024;

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
  const settings = new Map(
    (await db.select().from(schema.jmapIdentities).where(
      eq(schema.jmapIdentities.accountId, accountId),
    )).map((r) => [r.identityId, r]),
  );
  const list = [make(`i${me.id}`, me.address), ...aliases.map((a) => make(`ia${a.id}`, a.address))];
  for (const identity of list) {
    const set = settings.get(identity.id);
    if (!set) continue;
    if (set.name !== null) identity.name = set.name;
    identity.replyTo = set.replyTo === null ? null : JSON.parse(set.replyTo);
    identity.bcc = set.bcc === null ? null : JSON.parse(set.bcc);
    identity.textSignature = set.textSignature;
    identity.htmlSignature = set.htmlSignature;
  }
  return list;
}

/** An `EmailAddress[]|null` value (RFC 8621 section 4.1.2.3) with valid addresses, or null. */
function addressList(value: Json): EmailAddress[] | null | undefined {
  if (value === null) return null;
  if (!Array.isArray(value)) return undefined;
  const out: EmailAddress[] = [];
  for (const a of value) {
    if (typeof a !== "object" || a === null || typeof a.email !== "string") return undefined;
    if (a.name !== undefined && a.name !== null && typeof a.name !== "string") return undefined;
    if (!parseAddress(a.email).ok) return undefined;
    out.push({ name: a.name ?? null, email: a.email });
  }
  return out;
}

/** The reason `next` (a patched identity) cannot be stored, or undefined when it can. */
function identityProblem(current: Identity, next: Record<string, Json>): SetError | undefined {
  const fixed = Object.keys(next).filter((k) =>
    !(USER_SET as readonly string[]).includes(k) &&
    JSON.stringify(next[k]) !== JSON.stringify(current[k as keyof Identity])
  );
  if (fixed.length > 0) {
    return setError(
      "invalidProperties",
      "only the name, replyTo, bcc and signatures change",
      fixed,
    );
  }
  const bad: string[] = [];
  if (typeof next.name !== "string" || next.name.length > MAX_NAME) bad.push("name");
  for (const k of ["replyTo", "bcc"]) if (addressList(next[k]) === undefined) bad.push(k);
  for (const k of ["textSignature", "htmlSignature"]) {
    if (typeof next[k] !== "string" || next[k].length > MAX_SIGNATURE) bad.push(k);
  }
  return bad.length > 0
    ? setError(
      "invalidProperties",
      "names up to 256 characters, valid addresses, signatures " +
        "up to 64 KiB",
      bad,
    )
    : undefined;
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
  requireWrite(ctx);
  const all = await identities(ctx, accountId);
  const state = await stateOf(all);
  checkIfInState(args, state);
  const { create, update, destroy } = setArgs(ctx, args);
  const out = new SetOutcome();
  const why = "identities are the account's address and aliases, managed by administrators";
  for (const id of Object.keys(create)) out.notCreated[id] = setError("forbidden", why);
  for (const id of destroy) out.notDestroyed[id] = setError("forbidden", why);
  const db = ctx.deps.store.db;
  for (const [id, patch] of Object.entries(update)) {
    const current = all.find((i) => i.id === id);
    if (!current) {
      out.notUpdated[id] = setError("notFound");
      continue;
    }
    const next = applyPatch(current as unknown as Record<string, Json>, patch);
    const problem = next ? identityProblem(current, next) : setError("invalidPatch");
    if (problem || !next) {
      out.notUpdated[id] = problem ?? setError("invalidPatch");
      continue;
    }
    const row = {
      name: next.name as string,
      replyTo: next.replyTo === null ? null : JSON.stringify(addressList(next.replyTo)),
      bcc: next.bcc === null ? null : JSON.stringify(addressList(next.bcc)),
      textSignature: next.textSignature as string,
      htmlSignature: next.htmlSignature as string,
    };
    // One statement: an upsert on (account, identity) needs no read-then-write guard.
    await db.insert(schema.jmapIdentities).values({ accountId, identityId: id, ...row })
      .onConflictDoUpdate({
        target: [schema.jmapIdentities.accountId, schema.jmapIdentities.identityId],
        set: row,
      });
    out.updated[id] = null;
  }
  const newState = Object.keys(out.updated).length > 0
    ? await stateOf(await identities(ctx, accountId))
    : state;
  return out.response(args.accountId, state, newState);
}

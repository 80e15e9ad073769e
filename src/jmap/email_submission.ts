/**
 * EmailSubmission/get, /changes, /query and /set (RFC 8621 section 7): an Email of the account
 * handed to Postern's own submission path (services/submission.ts, what the SMTP submission port
 * uses: the sender checked against the account's addresses, local recipients delivered, remote
 * ones queued in the outbox, all in one write job) with the envelope given or derived from the
 * headers (section 7: From/Sender for MAIL FROM is the identity's address; To, Cc and Bcc for
 * RCPT TO). The Bcc field is removed from what is transmitted (section 7.5: recipients must
 * not learn of each other). Handing over is immediate, so every submission is `final`; then
 * `onSuccessUpdateEmail` / `onSuccessDestroyEmail` run as an implicit Email/set (section 7.5).
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import { AppError } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import { submitMessage } from "../services/submission.ts";
import { getRaw } from "../services/messages.ts";
import { schema } from "../store/store.ts";
import { account, type Ctx, requireWrite, resolveId } from "./context.ts";
import { emailRows } from "./email_get.ts";
import { emailSet } from "./email_set.ts";
import { asAddresses, rawFields } from "./headers.ts";
import { identities } from "./identity.ts";
import { emailIdOf, parseEmailId, parseSubmissionId, submissionIdOf, threadIdOf } from "./ids.ts";
import {
  invalidArguments,
  type Json,
  MethodError,
  type SetError,
  setError,
  utcDate,
} from "./protocol.ts";
import {
  checkIfInState,
  idsArg,
  pick,
  propertiesArg,
  queryChangesResponse,
  queryWindow,
  setArgs,
  SetOutcome,
} from "./standard.ts";
import { changesMethod } from "./thread.ts";
import { changesSince, currentState } from "./state.ts";
import { findHeaderEnd } from "../../schemas/mime_header.ts";

const s = schema.jmapSubmissions;
const PROPERTIES = [
  "id",
  "identityId",
  "emailId",
  "threadId",
  "envelope",
  "sendAt",
  "undoStatus",
  "deliveryStatus",
  "dsnBlobIds",
  "mdnBlobIds",
];
/** Recipients per submission, as the SMTP submission port allows. */
const MAX_RECIPIENTS = 1000;

type Row = typeof s.$inferSelect;

function toJmap(r: Row) {
  return {
    id: submissionIdOf(r.id),
    identityId: r.identityId,
    emailId: emailIdOf(r.emailId),
    threadId: threadIdOf(r.threadId),
    envelope: JSON.parse(r.envelope),
    sendAt: utcDate(r.sendAt),
    undoStatus: r.undoStatus,
    deliveryStatus: JSON.parse(r.deliveryStatus),
    dsnBlobIds: [],
    mdnBlobIds: [],
  };
}

async function rows(ctx: Ctx, accountId: number, ids?: number[]) {
  const db = ctx.deps.store.db;
  return await db.select().from(s).where(and(
    eq(s.accountId, accountId),
    ids ? inArray(s.id, ids.length ? ids : [-1]) : undefined,
  )).orderBy(desc(s.id)).limit(ctx.limits.maxObjectsInGet + 1);
}

/** What an outbox state says of a recipient (RFC 8621 section 7 `delivered`). */
const DELIVERED: Record<string, string> = {
  queued: "queued",
  sending: "queued",
  deferred: "queued",
  sent: "yes",
  bounced: "no",
  failed: "no",
  cancelled: "no",
};

/**
 * Recipients still `queued` at submission take their state from the outbox as it is now (remote
 * delivery happens after the submission answered).
 */
async function withLiveStatus(ctx: Ctx, accountId: number, r: Row) {
  const view = toJmap(r);
  const status = view.deliveryStatus as Record<string, Record<string, string>>;
  if (!Object.values(status).some((x) => x.delivered === "queued")) return view;
  const queue = await ctx.deps.store.db.select({
    rcptTo: schema.outbox.rcptTo,
    state: schema.outbox.state,
    lastError: schema.outbox.lastError,
  }).from(schema.outbox).where(and(
    eq(schema.outbox.accountId, accountId),
    eq(schema.outbox.blobSha256, r.blobSha256),
  ));
  for (const q of queue) {
    const key = Object.keys(status).find((k) => k.toLowerCase() === q.rcptTo.toLowerCase());
    if (!key || status[key].delivered !== "queued") continue;
    status[key] = {
      ...status[key],
      delivered: DELIVERED[q.state] ?? "unknown",
      smtpReply: q.state === "sent" ? "250 2.0.0 delivered" : q.lastError ?? status[key].smtpReply,
    };
  }
  return view;
}

export async function submissionGet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const ids = idsArg(ctx, args);
  const properties = propertiesArg(args, PROPERTIES);
  const state = await currentState(ctx.deps.store.db, accountId, "EmailSubmission");
  const found = await rows(
    ctx,
    accountId,
    ids?.map(parseSubmissionId).filter((n): n is number => n !== undefined),
  );
  const byId = new Map<string, ReturnType<typeof toJmap>>();
  for (const r of found) byId.set(submissionIdOf(r.id), await withLiveStatus(ctx, accountId, r));
  const list = ids === null
    ? [...byId.values()]
    : ids.filter((i) => byId.has(i)).map((i) => byId.get(i)!);
  return {
    accountId: args.accountId,
    state,
    list: list.map((x) => pick(x, properties)),
    notFound: ids === null ? [] : ids.filter((i) => !byId.has(i)),
  };
}

export const submissionChanges = changesMethod("EmailSubmission", submissionIdOf);

/** Section 7.3 filter and sort, over the account's submissions: the matching ids in order. */
async function submissionIds(ctx: Ctx, accountId: number, args: Record<string, Json>) {
  const all = (await ctx.deps.store.db.select().from(s).where(eq(s.accountId, accountId))).map(
    toJmap,
  );
  const f = args.filter ?? {};
  const has = (list: Json, v: string) => !Array.isArray(list) || list.includes(v);
  for (const key of Object.keys(f)) {
    if (!["identityIds", "emailIds", "threadIds", "undoStatus", "before", "after"].includes(key)) {
      throw new MethodError("unsupportedFilter", `unknown filter property "${key}"`);
    }
  }
  const list = all.filter((x) =>
    has(f.identityIds, x.identityId) && has(f.emailIds, x.emailId) &&
    has(f.threadIds, x.threadId) && (f.undoStatus === undefined || f.undoStatus === x.undoStatus) &&
    (f.before === undefined || x.sendAt < f.before) &&
    (f.after === undefined || x.sendAt >= f.after)
  );
  for (const c of [...(Array.isArray(args.sort) ? args.sort : [])].reverse()) {
    if (!["emailId", "threadId", "sentAt"].includes(c?.property)) {
      throw new MethodError("unsupportedSort", `cannot sort by "${c?.property}"`);
    }
    const key = c.property === "sentAt" ? "sendAt" : c.property as "emailId" | "threadId";
    list.sort((a, b) =>
      (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0) * (c.isAscending === false ? -1 : 1)
    );
  }
  return list.map((x) => x.id);
}

export async function submissionQuery(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  return {
    accountId: args.accountId,
    queryState: await currentState(ctx.deps.store.db, accountId, "EmailSubmission"),
    canCalculateChanges: true,
    ...queryWindow(await submissionIds(ctx, accountId, args), args, 1000),
  };
}

/** RFC 8620 section 5.6 over the submission change log (states are the account's sequence). */
export async function submissionQueryChanges(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const db = ctx.deps.store.db;
  const c = await changesSince(db, accountId, "EmailSubmission", args.sinceQueryState, undefined);
  const ids = await submissionIds(ctx, accountId, args);
  const changed = new Set([...c.created, ...c.updated, ...c.destroyed].map(submissionIdOf));
  return queryChangesResponse(args, c, ids, changed);
}

/** The message without its Bcc fields (header section only; the body is untouched). */
export function withoutBcc(raw: Uint8Array): Uint8Array {
  const { fieldsEnd } = findHeaderEnd(raw, 0, raw.length);
  const head = new TextDecoder("latin1").decode(raw.subarray(0, fieldsEnd));
  const kept = head.split(/(?<=\n)(?![ \t])/).filter((f) => !/^bcc\s*:/i.test(f)).join("");
  if (kept.length === head.length) return raw;
  const bytes = Uint8Array.from(kept, (c) => c.charCodeAt(0));
  const out = new Uint8Array(bytes.length + raw.length - fieldsEnd);
  out.set(bytes);
  out.set(raw.subarray(fieldsEnd), bytes.length);
  return out;
}

interface Envelope {
  mailFrom: { email: string; parameters: Record<string, string | null> | null };
  rcptTo: { email: string; parameters: Record<string, string | null> | null }[];
}

function envelopeArg(value: Json): Envelope | SetError | undefined {
  if (value === undefined || value === null) return undefined;
  const ok = typeof value?.mailFrom?.email === "string" && Array.isArray(value.rcptTo) &&
    value.rcptTo.every((r: Json) => typeof r?.email === "string");
  if (!ok) return setError("invalidProperties", "envelope is {mailFrom, rcptTo}", ["envelope"]);
  return value as Envelope;
}

async function createOne(ctx: Ctx, accountId: number, input: Record<string, Json>) {
  const allowed = new Set(["identityId", "emailId", "envelope"]);
  const bad = Object.keys(input).filter((k) => !allowed.has(k));
  if (bad.length) return setError("invalidProperties", "these cannot be set", bad);
  const identity = (await identities(ctx, accountId)).find((i) =>
    i.id === resolveId(ctx, input.identityId)
  );
  if (!identity) return setError("invalidProperties", "no such identity", ["identityId"]);
  const emailId = parseEmailId(resolveId(ctx, input.emailId));
  const row = emailId === undefined
    ? undefined
    : (await emailRows(ctx.deps.store.db, accountId, [emailId])).get(emailId);
  if (!row) return setError("invalidProperties", "no such Email", ["emailId"]);
  const raw = await getRaw(ctx.deps.store.db, accountId, row.id);
  let envelope = envelopeArg(input.envelope);
  if (envelope && "type" in envelope) return envelope;
  if (!envelope) {
    const { fieldsEnd } = findHeaderEnd(raw, 0, raw.length);
    const fields = rawFields(raw, 0, fieldsEnd);
    const rcpt = new Map<string, string>();
    for (const f of fields) {
      if (!/^(to|cc|bcc)$/i.test(f.name)) continue;
      for (const a of asAddresses(f.raw)) if (a.email) rcpt.set(a.email.toLowerCase(), a.email);
    }
    envelope = {
      mailFrom: { email: identity.email, parameters: null },
      rcptTo: [...rcpt.values()].map((email) => ({ email, parameters: null })),
    };
  }
  if (envelope.rcptTo.length === 0) return setError("noRecipients", "the Email has no recipients");
  if (envelope.rcptTo.length > MAX_RECIPIENTS) {
    return setError("tooManyRecipients", `at most ${MAX_RECIPIENTS} recipients`);
  }
  const sent = withoutBcc(raw);
  let results;
  try {
    ({ results } = await submitMessage(ctx.deps, {
      mailFrom: envelope.mailFrom.email,
      recipients: envelope.rcptTo.map((r) => r.email),
      authenticatedAs: ctx.auth.address,
      // With an API key: the key's rights (sending domains, test mode), as on SMTP relay.
      apiKeyId: ctx.auth.apiKeyId,
      clientIp: "jmap",
    }, sent));
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    if (e.code === "sender_not_allowed") return setError("forbiddenFrom", e.message);
    if (e.status === 413) return setError("tooLarge", e.message);
    if (e.status === 422 && /recipient/.test(e.message)) {
      return setError("invalidRecipients", e.message);
    }
    if (e.status < 500) return setError("forbiddenToSend", e.message);
    throw e;
  }
  const rejected = results.filter((r) => r.status === "rejected");
  if (rejected.length === results.length && results.length > 0) {
    return {
      ...setError("invalidRecipients", "every recipient was refused"),
      invalidRecipients: rejected.map((r) => r.recipient),
    };
  }
  const deliveryStatus: Record<string, Json> = {};
  for (const r of results) {
    deliveryStatus[r.recipient] = {
      smtpReply: r.status === "rejected"
        ? `${r.code ?? "550"} ${r.reason ?? "rejected"}`
        : r.status === "delivered" || r.status === "duplicate"
        ? "250 2.0.0 delivered"
        : "250 2.0.0 queued",
      delivered: r.status === "delivered" || r.status === "duplicate"
        ? "yes"
        : r.status === "rejected"
        ? "no"
        : "queued",
      displayed: "unknown",
    };
  }
  const now = ctx.deps.clock.now();
  const [saved] = await ctx.deps.store.db.insert(s).values({
    accountId,
    identityId: identity.id,
    emailId: row.id,
    threadId: row.threadId,
    blobSha256: await sha256Hex(sent),
    envelope: JSON.stringify(envelope),
    sendAt: now,
    deliveryStatus: JSON.stringify(deliveryStatus),
  }).returning();
  return {
    id: submissionIdOf(saved.id),
    threadId: threadIdOf(row.threadId),
    sendAt: utcDate(now),
    undoStatus: "final",
    emailId: emailIdOf(row.id),
  };
}

export async function submissionSet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  requireWrite(ctx);
  if (!ctx.auth.scopes.has("send")) {
    throw new MethodError("forbidden", "this credential lacks the send scope");
  }
  const db = ctx.deps.store.db;
  const oldState = await currentState(db, accountId, "EmailSubmission");
  checkIfInState(args, oldState);
  const { create, update, destroy } = setArgs(ctx, args);
  const out = new SetOutcome();
  const { created, notCreated, notUpdated, destroyed, notDestroyed } = out;
  const emailOf = new Map<string, string>();
  for (const [cid, input] of Object.entries(create)) {
    const result = await createOne(ctx, accountId, input);
    if ("type" in result) {
      notCreated[cid] = result as SetError;
      continue;
    }
    const { emailId, ...rest } = result;
    ctx.created.set(cid, result.id);
    emailOf.set(`#${cid}`, emailId);
    emailOf.set(result.id, emailId);
    created[cid] = rest;
  }
  const existing = new Map(
    (await rows(
      ctx,
      accountId,
      [...Object.keys(update), ...destroy].map(parseSubmissionId)
        .filter((n): n is number => n !== undefined),
    )).map((r) => [submissionIdOf(r.id), r]),
  );
  for (const [id, patch] of Object.entries(update)) {
    const row = existing.get(id);
    if (!row) notUpdated[id] = setError("notFound");
    else if (patch.undoStatus === "canceled") {
      notUpdated[id] = setError("cannotUnsend", "the message was handed over at once");
    } else notUpdated[id] = setError("invalidProperties", "only undoStatus may change");
  }
  for (const id of destroy) {
    const row = existing.get(id);
    if (!row) {
      notDestroyed[id] = setError("notFound");
      continue;
    }
    await db.delete(s).where(and(eq(s.id, row.id), eq(s.accountId, accountId)));
    destroyed.push(id);
  }
  const response = out.response(
    args.accountId,
    oldState,
    await currentState(db, accountId, "EmailSubmission"),
  );
  const responses: [string, Record<string, Json>][] = [["EmailSubmission/set", response]];
  // Section 7.5: the implicit Email/set, for submissions that succeeded only.
  const onUpdate = args.onSuccessUpdateEmail ?? {};
  const onDestroy = args.onSuccessDestroyEmail ?? [];
  if (typeof onUpdate !== "object" || Array.isArray(onUpdate) || !Array.isArray(onDestroy)) {
    throw invalidArguments("onSuccessUpdateEmail is a map, onSuccessDestroyEmail a list");
  }
  const update2: Record<string, Json> = {};
  for (const [ref, patch] of Object.entries(onUpdate)) {
    const emailId = emailOf.get(ref);
    if (emailId) update2[emailId] = patch;
  }
  const destroy2 = onDestroy.map((ref: string) => emailOf.get(ref)).filter(Boolean);
  if (Object.keys(update2).length || destroy2.length) {
    responses.push([
      "Email/set",
      await emailSet(ctx, { accountId: args.accountId, update: update2, destroy: destroy2 }),
    ]);
  }
  return responses;
}

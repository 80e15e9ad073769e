/**
 * Email/set, Email/import and Email/copy (RFC 8621 sections 4.6-4.8) through the message
 * services IMAP and REST use: keyword changes are flag changes with a new MODSEQ
 * (services/messages.ts updateMessage), a mailboxIds change is a move that keeps the Email's id
 * (moveMessage), destroy purges (deleteMessage), and created and imported Emails are APPENDs
 * (mail_access_write.ts appendMessage). Postern keeps each Email in exactly one Mailbox, which
 * the session advertises (`maxMailboxesPerEmail: 1`); more is `tooManyMailboxes`.
 */
import type { AttachmentContent, NamedAddress } from "../../schemas/mail.ts";
import { AppError } from "../errors.ts";
import { encodedWords } from "../mime/compose.ts";
import { appendMessage } from "../services/mail_access_write.ts";
import {
  deleteMessage,
  MAX_KEYWORDS_PER_MESSAGE,
  moveMessage,
  updateMessage,
} from "../services/messages.ts";
import { requireMailbox } from "../services/mailboxes.ts";
import { account, type Ctx, requireWrite, resolveId } from "./context.ts";
import { blobBytes } from "./blobs.ts";
import { EMAIL_PROPERTIES, emailRows, keywordsMap } from "./email_get.ts";
import {
  emailIdOf,
  mailboxIdOf,
  messageBlobId,
  parseBlobId,
  parseEmailId,
  parseMailboxId,
  threadIdOf,
} from "./ids.ts";
import { invalidArguments, type Json, parseDate, type SetError, setError } from "./protocol.ts";
import { applyPatch, checkIfInState, setArgs, SetOutcome } from "./standard.ts";
import { currentState } from "./state.ts";

const SYSTEM_FLAGS: Record<string, string> = {
  $seen: "\\Seen",
  $flagged: "\\Flagged",
  $answered: "\\Answered",
  $draft: "\\Draft",
  $deleted: "\\Deleted",
};

/** Section 4.1.1 keyword syntax: printable ASCII without `( ) { ] % * " \`, 1-255 octets. */
const isKeyword = (k: string) => /^[\x21-\x7e]{1,255}$/.test(k) && !/[(){\]%*"\\]/.test(k);

/** A `keywords` value checked; a SetError when malformed. */
function keywordList(value: Json): string[] | SetError {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return setError("invalidProperties", "keywords is a map of keyword to true", ["keywords"]);
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v !== true || !isKeyword(k)) {
      return setError("invalidProperties", `"${k}" is not a keyword set to true`, ["keywords"]);
    }
    out.push(k.toLowerCase());
  }
  if (out.length > MAX_KEYWORDS_PER_MESSAGE) {
    return setError("tooManyKeywords", `at most ${MAX_KEYWORDS_PER_MESSAGE} keywords`);
  }
  return out;
}

/** IMAP flags for APPEND from JMAP keywords. */
const flagsOf = (keywords: string[]) => keywords.map((k) => SYSTEM_FLAGS[k] ?? k);

/** The one mailbox a `mailboxIds` value names (section 4.1.1), or the SetError. */
async function targetMailbox(ctx: Ctx, accountId: number, value: Json): Promise<number | SetError> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return setError("invalidProperties", "mailboxIds is a map of id to true", ["mailboxIds"]);
  }
  const ids = Object.entries(value).filter(([, v]) => v === true).map(([k]) => k);
  if (ids.length === 0 || Object.values(value).some((v) => v !== true)) {
    return setError("invalidProperties", "an Email belongs to one Mailbox", ["mailboxIds"]);
  }
  if (ids.length > 1) {
    return setError("tooManyMailboxes", "an Email is in exactly one Mailbox here");
  }
  const id = parseMailboxId(resolveId(ctx, ids[0]));
  try {
    if (id === undefined) throw new AppError(404, "not_found", "mailbox not found");
    await requireMailbox(ctx.deps.store.db, accountId, id);
    return id;
  } catch (e) {
    if (e instanceof AppError && e.status === 404) {
      return setError("invalidProperties", `no mailbox ${ids[0]}`, ["mailboxIds"]);
    }
    throw e;
  }
}

/** Service errors as SetErrors (section 5.3); anything else is a server fault. */
function serviceSetError(e: unknown): SetError {
  if (!(e instanceof AppError)) throw e;
  if (e.status === 404) return setError("notFound", e.message);
  if (e.code === "quota_exceeded") return setError("overQuota", e.message);
  if (e.status === 413) return setError("tooLarge", e.message);
  if (e.status === 422 || e.status === 400) return setError("invalidProperties", e.message);
  if (e.status === 403) return setError("forbidden", e.message);
  throw e;
}

const UPDATABLE = new Set(["keywords", "mailboxIds"]);

async function updateEmail(ctx: Ctx, accountId: number, id: string, patch: Record<string, Json>) {
  const rowId = parseEmailId(id);
  const row = rowId === undefined
    ? undefined
    : (await emailRows(ctx.deps.store.db, accountId, [rowId])).get(rowId);
  if (!row) return setError("notFound");
  const bad = Object.keys(patch).filter((p) => !UPDATABLE.has(p.split("/")[0]));
  if (bad.length) {
    return setError("invalidProperties", "only keywords and mailboxIds can change", bad);
  }
  const current = {
    keywords: keywordsMap(row),
    mailboxIds: { [mailboxIdOf(row.mailboxId)]: true },
  };
  const next = applyPatch(current, patch);
  if (!next) return setError("invalidPatch", "the patch does not apply");
  const keywords = keywordList(next.keywords ?? {});
  if (!Array.isArray(keywords)) return keywords;
  const target = await targetMailbox(ctx, accountId, next.mailboxIds);
  if (typeof target !== "number") return target;
  const before = new Set(Object.keys(current.keywords));
  const after = new Set(keywords);
  const flags: Record<string, boolean> = {};
  const add: string[] = [];
  const remove: string[] = [];
  for (const k of new Set([...before, ...after])) {
    if (before.has(k) === after.has(k)) continue;
    const system = SYSTEM_FLAGS[k];
    if (system) flags[system.slice(1).toLowerCase()] = after.has(k);
    else (after.has(k) ? add : remove).push(k);
  }
  try {
    if (Object.keys(flags).length || add.length || remove.length) {
      await updateMessage(ctx.deps, accountId, row.id, {
        flags,
        ...(add.length ? { addKeywords: add } : {}),
        ...(remove.length ? { removeKeywords: remove } : {}),
      });
    }
    if (target !== row.mailboxId) await moveMessage(ctx.deps, accountId, row.id, target);
  } catch (e) {
    return serviceSetError(e);
  }
  return null;
}

const addressesOf = (value: Json, property: string): NamedAddress[] | SetError => {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return setError("invalidProperties", "an address list", [property]);
  const out: NamedAddress[] = [];
  for (const a of value) {
    if (typeof a?.email !== "string" || !/^[^@\s]+@[^@\s]+$/.test(a.email)) {
      return setError("invalidProperties", "each address needs an email", [property]);
    }
    out.push({ name: typeof a.name === "string" ? a.name : "", address: a.email });
  }
  return out;
};

/** Section 4.6: everything but the server-set properties may be given on create. */
const CREATABLE = new Set<string>([
  ...EMAIL_PROPERTIES.filter((p) =>
    !["id", "blobId", "threadId", "size", "hasAttachment", "preview"].includes(p)
  ),
  "bodyStructure",
]);

/**
 * Builds the RFC 5322 bytes of an Email/set create (section 4.6) through the MIME port: one
 * text and/or HTML body from `bodyValues`, attachments by blobId, extra `header:` fields.
 */
async function composeCreate(
  ctx: Ctx,
  accountId: number,
  given: Record<string, Json>,
): Promise<Uint8Array | SetError> {
  const bad = Object.keys(given).filter((p) => !CREATABLE.has(p) && !p.startsWith("header:"));
  if (bad.length) return setError("invalidProperties", "these cannot be set on create", bad);
  const flat = given.bodyStructure === undefined ? {} : flattenStructure(given);
  if ("type" in flat) return flat as SetError;
  const input = { ...given, ...flat };
  const lists: Record<string, NamedAddress[]> = {};
  for (const p of ["from", "to", "cc", "bcc", "replyTo"]) {
    const v = addressesOf(input[p], p);
    if (!Array.isArray(v)) return v;
    lists[p] = v;
  }
  if (lists.from.length === 0) {
    return setError("invalidProperties", "an Email needs a From address", ["from"]);
  }
  const bodyText = (property: "textBody" | "htmlBody"): string | undefined | SetError => {
    const parts = input[property];
    if (parts === undefined || parts === null) return undefined;
    if (!Array.isArray(parts) || parts.length !== 1 || typeof parts[0]?.partId !== "string") {
      return setError("invalidProperties", `${property} is one part with a partId`, [property]);
    }
    const value = input.bodyValues?.[parts[0].partId]?.value;
    if (typeof value !== "string") {
      return setError("invalidProperties", `no bodyValues entry for ${parts[0].partId}`, [
        "bodyValues",
      ]);
    }
    return value;
  };
  const text = bodyText("textBody");
  if (typeof text === "object") return text;
  const html = bodyText("htmlBody");
  if (typeof html === "object") return html;
  const attachments: AttachmentContent[] = [];
  for (const a of Array.isArray(input.attachments) ? input.attachments : []) {
    const ref = parseBlobId(a?.blobId);
    const bytes = ref ? await blobBytes(ctx, accountId, ref) : undefined;
    if (!bytes) return setError("blobNotFound", `no blob ${a?.blobId}`, ["attachments"]);
    attachments.push({
      filename: typeof a.name === "string" ? a.name : "attachment",
      contentType: typeof a.type === "string" ? a.type : "application/octet-stream",
      content: bytes,
    });
  }
  const headers: { name: string; value: string }[] = [];
  for (const [p, v] of Object.entries(input)) {
    const m = p.match(/^header:([\x21-\x39\x3b-\x7e]+)(?::asText|:asRaw)?$/);
    if (!p.startsWith("header:")) continue;
    if (!m || typeof v !== "string" || /[\r\n]/.test(v)) {
      return setError("invalidProperties", "a header is header:Name[:asText] with a string", [p]);
    }
    headers.push({ name: m[1], value: v.trim() });
  }
  const firstId = (v: Json) => Array.isArray(v) && typeof v[0] === "string" ? v[0] : undefined;
  const sentAt = input.sentAt === undefined ? ctx.deps.clock.now() : parseDate(input.sentAt);
  if (sentAt === undefined) return setError("invalidProperties", "sentAt is a Date", ["sentAt"]);
  const domain = lists.from[0].address.split("@")[1];
  const composed = await ctx.deps.mime.compose({
    from: lists.from[0],
    to: lists.to,
    cc: lists.cc,
    bcc: lists.bcc,
    replyTo: lists.replyTo,
    subject: typeof input.subject === "string" ? input.subject : "",
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
    messageId: `<${firstId(input.messageId) ?? `${crypto.randomUUID()}@${domain}`}>`,
    date: new Date(sentAt),
    ...(firstId(input.inReplyTo) ? { inReplyTo: `<${firstId(input.inReplyTo)}>` } : {}),
    ...(Array.isArray(input.references)
      ? { references: input.references.map((r: string) => `<${r}>`) }
      : {}),
    headers,
    attachments,
  });
  // The composer leaves Bcc out (right for sending); a stored draft keeps it, since the
  // submission derives its recipients from it and strips it (email_submission.ts).
  if (lists.bcc.length === 0) return composed;
  const phrase = (name: string) =>
    /^[\x20-\x7e]*$/.test(name)
      ? `"${name.replace(/["\\]/g, "\\$&")}"`
      : encodedWords(name).join(" ");
  const field = "Bcc: " +
    lists.bcc.map((a) => a.name ? `${phrase(a.name)} <${a.address}>` : a.address).join(",\r\n ") +
    "\r\n";
  const head = new TextEncoder().encode(field);
  const out = new Uint8Array(head.length + composed.length);
  out.set(head);
  out.set(composed, head.length);
  return out;
}

/**
 * A `bodyStructure` given on create (section 4.6) as the textBody/htmlBody/attachments it
 * amounts to, for the shapes mail clients send: one text leaf, multipart/alternative of plain
 * and HTML, or either inside multipart/mixed with attachment leaves (by blobId). Given together
 * with the flat lists, it is invalid (the section allows one or the other).
 */
function flattenStructure(input: Record<string, Json>): Record<string, Json> | SetError {
  const invalid = (why: string) => setError("invalidProperties", why, ["bodyStructure"]);
  if (["textBody", "htmlBody", "attachments"].some((p) => input[p] !== undefined)) {
    return invalid("bodyStructure excludes textBody, htmlBody and attachments");
  }
  const out: Record<string, Json[]> = { attachments: [] };
  const typeOf = (p: Json) => String(p?.type ?? "").toLowerCase();
  const body = (p: Json): boolean => {
    if (typeOf(p) === "text/plain" && typeof p.partId === "string") out.textBody = [p];
    else if (typeOf(p) === "text/html" && typeof p.partId === "string") out.htmlBody = [p];
    else if (typeOf(p) === "multipart/alternative" && Array.isArray(p.subParts)) {
      return p.subParts.length > 0 && p.subParts.every(body);
    } else return false;
    return true;
  };
  const root = input.bodyStructure;
  if (typeOf(root) === "multipart/mixed" && Array.isArray(root.subParts)) {
    const [first, ...rest] = root.subParts;
    if (!body(first)) return invalid("the first part of multipart/mixed must be the body");
    for (const a of rest) {
      if (typeof a?.blobId !== "string") return invalid("attachments are parts with a blobId");
      out.attachments.push(a);
    }
  } else if (!body(root)) {
    return invalid("a text body, multipart/alternative, or multipart/mixed with attachments");
  }
  return out;
}

/** Stores bytes as a new Email (create and import): APPEND with keywords and receivedAt. */
async function storeEmail(
  ctx: Ctx,
  accountId: number,
  raw: Uint8Array,
  input: Record<string, Json>,
) {
  const target = await targetMailbox(ctx, accountId, input.mailboxIds);
  if (typeof target !== "number") return target;
  const keywords = keywordList(input.keywords ?? {});
  if (!Array.isArray(keywords)) return keywords;
  let receivedAt: number | undefined;
  if (input.receivedAt !== undefined && input.receivedAt !== null) {
    receivedAt = parseDate(input.receivedAt);
    if (receivedAt === undefined) {
      return setError("invalidProperties", "receivedAt is a UTCDate", ["receivedAt"]);
    }
  }
  try {
    const saved = await appendMessage(ctx.deps, accountId, target, raw, {
      flags: flagsOf(keywords),
      internalDate: receivedAt,
    });
    const row = (await emailRows(ctx.deps.store.db, accountId, [saved.id])).get(saved.id)!;
    return {
      id: emailIdOf(saved.id),
      blobId: messageBlobId(saved.id),
      threadId: threadIdOf(row.threadId),
      size: row.size,
    };
  } catch (e) {
    return serviceSetError(e);
  }
}

export async function emailSet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  requireWrite(ctx);
  const db = ctx.deps.store.db;
  const oldState = await currentState(db, accountId, "Email");
  checkIfInState(args, oldState);
  const { create, update, destroy } = setArgs(ctx, args);
  const r = new SetOutcome();
  for (const [cid, input] of Object.entries(create)) {
    const raw = await composeCreate(ctx, accountId, input);
    const result = raw instanceof Uint8Array ? await storeEmail(ctx, accountId, raw, input) : raw;
    if ("type" in result) r.notCreated[cid] = result;
    else {
      ctx.created.set(cid, result.id);
      r.created[cid] = result;
    }
  }
  for (const [id, patch] of Object.entries(update)) {
    const problem = await updateEmail(ctx, accountId, String(resolveId(ctx, id)), patch);
    if (problem) r.notUpdated[id] = problem;
    else r.updated[id] = null;
  }
  for (const id of destroy) {
    const rowId = parseEmailId(id);
    try {
      if (rowId === undefined) throw new AppError(404, "not_found", "email not found");
      await deleteMessage(ctx.deps, accountId, rowId, true);
      r.destroyed.push(id);
    } catch (e) {
      r.notDestroyed[id] = serviceSetError(e);
    }
  }
  return r.response(args.accountId, oldState, await currentState(db, accountId, "Email"));
}

/** Email/import (section 4.8): uploaded RFC 5322 blobs stored as Emails. */
export async function emailImport(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  requireWrite(ctx);
  const db = ctx.deps.store.db;
  const oldState = await currentState(db, accountId, "Email");
  checkIfInState(args, oldState);
  const emails = args.emails;
  if (typeof emails !== "object" || emails === null || Array.isArray(emails)) {
    throw invalidArguments('"emails" must be a map of creation id to EmailImport');
  }
  setArgs(ctx, { create: emails });
  const r = new SetOutcome();
  const { created, notCreated } = r;
  for (const [cid, input] of Object.entries(emails as Record<string, Record<string, Json>>)) {
    const ref = parseBlobId(resolveId(ctx, input?.blobId));
    const raw = ref ? await blobBytes(ctx, accountId, ref) : undefined;
    if (!raw) {
      notCreated[cid] = setError("blobNotFound", `no blob ${input?.blobId}`, ["blobId"]);
      continue;
    }
    const result = await storeEmail(ctx, accountId, raw, input);
    if ("type" in result) notCreated[cid] = result;
    else {
      ctx.created.set(cid, result.id);
      created[cid] = result;
    }
  }
  const { created: c, notCreated: n, newState } = r.response(
    args.accountId,
    oldState,
    await currentState(db, accountId, "Email"),
  );
  // Section 4.8: an import answers created and notCreated only.
  return { accountId: args.accountId, oldState, newState, created: c, notCreated: n };
}

/**
 * Email/copy (section 4.7) moves Emails between two accounts. A credential here reaches one
 * account, so the only other `fromAccountId` is one it may not read: fromAccountNotFound, the
 * same answer as for an account that does not exist (RFC 8620 section 5.4).
 */
export function emailCopy(ctx: Ctx, args: Record<string, Json>): never {
  account(ctx, args, "fromAccountId");
  account(ctx, args);
  throw invalidArguments("fromAccountId and accountId must differ (RFC 8620 section 5.4)");
}

/**
 * Email/get and Email/parse (RFC 8621 sections 4.2 and 4.9): a stored message as a JMAP Email.
 * Metadata (ids, mailboxIds, keywords, size, receivedAt, preview, and the common header
 * properties when nothing else is asked for) comes from the message row; everything else from
 * the exact stored bytes, read only when a property needs them. Keywords are the IMAP flags in
 * JMAP spelling (section 4.1.1: `\Seen` is `$seen`, keywords lower-cased).
 */
import { openPreviews } from "../crypt/sealed_rows.ts";
import { and, eq, inArray } from "drizzle-orm";
import { parseMimeStructure } from "../../schemas/mime_structure.ts";
import { getRaw, summaryColumns, type SummaryRow } from "../services/messages.ts";
import { keywordsOf } from "../services/mail_access.ts";
import { schema } from "../store/store.ts";
import type { Queryable } from "../store/store.ts";
import { account, type Ctx } from "./context.ts";
import {
  allParts,
  BODY_PART_PROPERTIES,
  bodyLists,
  type BodyPart,
  bodyStructure,
  bodyValue,
  DEFAULT_BODY_PROPERTIES,
} from "./email_body.ts";
import {
  asAddresses,
  asDate,
  asMessageIds,
  asText,
  headerProperty,
  parseHeaderProperty,
  type RawField,
  rawFields,
} from "./headers.ts";
import {
  emailIdOf,
  mailboxIdOf,
  messageBlobId,
  parseBlobId,
  parseEmailId,
  partBlobId,
  subBlobId,
  threadIdOf,
} from "./ids.ts";
import { invalidArguments, type Json, utcDate } from "./protocol.ts";
import { idsArg, propertiesArg } from "./standard.ts";
import { currentState } from "./state.ts";
import { blobBytes } from "./blobs.ts";

const m = schema.messages;

export const EMAIL_PROPERTIES = [
  "id",
  "blobId",
  "threadId",
  "mailboxIds",
  "keywords",
  "size",
  "receivedAt",
  "messageId",
  "inReplyTo",
  "references",
  "sender",
  "from",
  "to",
  "cc",
  "bcc",
  "replyTo",
  "subject",
  "sentAt",
  "hasAttachment",
  "preview",
  "bodyValues",
  "textBody",
  "htmlBody",
  "attachments",
] as const;
const ALL_PROPERTIES = [...EMAIL_PROPERTIES, "headers", "bodyStructure"];
/** Properties the message row answers without reading the message's bytes. */
const ROW_PROPERTIES = new Set<string>([
  ...EMAIL_PROPERTIES.slice(0, EMAIL_PROPERTIES.indexOf("messageId")),
  "hasAttachment",
  "preview",
]);

const ROW_KEYS = [
  "id",
  "mailboxId",
  "threadId",
  "size",
  "internalDate",
  "hasAttachments",
  "preview",
  "seen",
  "flagged",
  "answered",
  "draft",
  "deleted",
  "keywords",
] as const;
/** The row columns an Email's metadata needs (never the parsed JSON). */
export const rowColumns = Object.fromEntries(
  ROW_KEYS.map((k) => [k, summaryColumns[k]]),
) as Pick<typeof summaryColumns, (typeof ROW_KEYS)[number]>;
export type EmailRow = Pick<SummaryRow, (typeof ROW_KEYS)[number]>;

/** The account's message rows among these ids (others are simply absent). */
export async function emailRows(db: Queryable, accountId: number, ids: number[]) {
  const out = new Map<number, EmailRow>();
  for (let i = 0; i < ids.length; i += 90) {
    // D1 binds at most 100 parameters per statement.
    const rows = await db.select(rowColumns).from(m)
      .where(and(eq(m.accountId, accountId), inArray(m.id, ids.slice(i, i + 90))));
    if ("preview" in rowColumns) await openPreviews(db, rows, accountId); // crypt/sealed_rows.ts
    for (const r of rows) out.set(r.id, r);
  }
  return out;
}

/** Section 4.1.1: system flags as `$` keywords, IMAP keywords lower-cased. */
export function keywordsMap(row: Omit<EmailRow, "id" | "mailboxId" | "threadId">) {
  const out: Record<string, true> = {};
  if (row.seen) out.$seen = true;
  if (row.flagged) out.$flagged = true;
  if (row.answered) out.$answered = true;
  if (row.draft) out.$draft = true;
  if (row.deleted) out.$deleted = true;
  for (const k of keywordsOf(row.keywords)) out[k.toLowerCase()] = true;
  return out;
}

export interface BodyOptions {
  bodyProperties: string[];
  fetchText: boolean;
  fetchHtml: boolean;
  fetchAll: boolean;
  maxBodyValueBytes: number;
}

export function bodyOptions(args: Record<string, Json>): BodyOptions {
  const max = args.maxBodyValueBytes ?? 0;
  if (!Number.isSafeInteger(max) || max < 0) {
    throw invalidArguments('"maxBodyValueBytes" must be a non-negative integer');
  }
  return {
    bodyProperties: args.bodyProperties === undefined || args.bodyProperties === null
      ? DEFAULT_BODY_PROPERTIES
      : propertiesArg(args, BODY_PART_PROPERTIES, "bodyProperties", isHeaderProp),
    fetchText: args.fetchTextBodyValues === true,
    fetchHtml: args.fetchHTMLBodyValues === true,
    fetchAll: args.fetchAllBodyValues === true,
    maxBodyValueBytes: max,
  };
}

const isHeaderProp = (p: string) => parseHeaderProperty(p) !== undefined;

function partView(part: BodyPart, props: readonly string[]): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const p of props) {
    if (p === "subParts") {
      out.subParts = part.subParts ? part.subParts.map((s) => partView(s, props)) : null;
    } else if (p.startsWith("header:")) {
      out[p] = headerProperty(part._fields, parseHeaderProperty(p));
    } else out[p] = (part as unknown as Record<string, Json>)[p];
  }
  return out;
}

/** An Email from its row (absent for Email/parse) and its bytes (absent when not needed). */
export function emailView(
  props: readonly string[],
  body: BodyOptions,
  row: EmailRow | undefined,
  raw: Uint8Array | undefined,
  blobId: string,
  blobIdOf: (partId: string) => string,
): Record<string, Json> {
  const out: Record<string, Json> = {};
  let fields: RawField[] | undefined;
  let root: BodyPart | undefined;
  let lists: ReturnType<typeof bodyLists> | undefined;
  const structure = raw ? parseMimeStructure(raw) : undefined;
  const head = () => fields ??= raw && structure ? rawFields(raw, 0, structure.body.headerEnd) : [];
  const tree = () => root ??= bodyStructure(raw!, structure!, blobIdOf);
  const bodies = () => lists ??= bodyLists(tree());
  const last = (name: string) => {
    const f = head().filter((x) => x.name.toLowerCase() === name);
    return f[f.length - 1]?.raw;
  };
  const addresses = (name: string) => {
    const v = last(name);
    return v === undefined ? null : asAddresses(v);
  };
  const ids = (name: string) => {
    const v = last(name);
    return v === undefined ? null : asMessageIds(v);
  };
  for (const p of props) {
    switch (p) {
      case "id":
        out.id = row ? emailIdOf(row.id) : null;
        break;
      case "blobId":
        out.blobId = blobId;
        break;
      case "threadId":
        out.threadId = row ? threadIdOf(row.threadId) : null;
        break;
      case "mailboxIds":
        out.mailboxIds = row ? { [mailboxIdOf(row.mailboxId)]: true } : null;
        break;
      case "keywords":
        out.keywords = row ? keywordsMap(row) : null;
        break;
      case "size":
        out.size = row ? row.size : raw?.byteLength ?? 0;
        break;
      case "receivedAt":
        out.receivedAt = row ? utcDate(row.internalDate) : null;
        break;
      case "hasAttachment":
        out.hasAttachment = row ? row.hasAttachments : bodies().attachments.length > 0;
        break;
      case "preview":
        out.preview = row ? row.preview : previewOf(raw!, bodies().textBody);
        break;
      case "messageId":
        out.messageId = ids("message-id");
        break;
      case "inReplyTo":
        out.inReplyTo = ids("in-reply-to");
        break;
      case "references":
        out.references = ids("references");
        break;
      case "sender":
      case "from":
      case "to":
      case "cc":
      case "bcc":
        out[p] = addresses(p);
        break;
      case "replyTo":
        out.replyTo = addresses("reply-to");
        break;
      case "subject": {
        const v = last("subject");
        out.subject = v === undefined ? null : asText(v);
        break;
      }
      case "sentAt": {
        const v = last("date");
        out.sentAt = v === undefined ? null : asDate(v);
        break;
      }
      case "headers":
        out.headers = head().map((f) => ({ name: f.name, value: f.raw }));
        break;
      case "bodyStructure":
        out.bodyStructure = partView(tree(), body.bodyProperties);
        break;
      case "textBody":
      case "htmlBody":
      case "attachments":
        out[p] = bodies()[p].map((x) => partView(x, body.bodyProperties));
        break;
      case "bodyValues": {
        const values: Record<string, Json> = {};
        const wanted = body.fetchAll
          ? allParts(tree()).filter((x) => x.type.startsWith("text/"))
          : [
            ...(body.fetchText ? bodies().textBody : []),
            ...(body.fetchHtml ? bodies().htmlBody : []),
          ].filter((x) => x.type.startsWith("text/"));
        for (const part of wanted) {
          values[part.partId!] = bodyValue(raw!, part, body.maxBodyValueBytes);
        }
        out.bodyValues = values;
        break;
      }
      default:
        out[p] = headerProperty(head(), parseHeaderProperty(p));
    }
  }
  return out;
}

/** Up to 256 characters of the text body, whitespace collapsed (section 4.1.4 `preview`). */
function previewOf(raw: Uint8Array, textBody: BodyPart[]): string {
  const first = textBody.find((p) => p.type === "text/plain") ?? textBody[0];
  if (!first) return "";
  let text = bodyValue(raw, first, 4096).value;
  if (first.type === "text/html") text = text.replace(/<[^>]*>/g, " ");
  return text.replace(/\s+/g, " ").trim().slice(0, 256);
}

export function emailProperties(args: Record<string, Json>) {
  return propertiesArg(
    args.properties === undefined || args.properties === null
      ? { properties: [...EMAIL_PROPERTIES] }
      : args,
    ALL_PROPERTIES,
    "properties",
    isHeaderProp,
  );
}

export async function emailGet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const db = ctx.deps.store.db;
  const props = emailProperties(args);
  const body = bodyOptions(args);
  const state = await currentState(db, accountId, "Email");
  let ids = idsArg(ctx, args);
  if (ids === null) {
    // Section 5.1 allows all; past maxObjectsInGet that is requestTooLarge (checked as ids).
    const all = await db.select({ id: m.id }).from(m).where(eq(m.accountId, accountId))
      .limit(ctx.limits.maxObjectsInGet + 1);
    ids = all.map((r) => emailIdOf(r.id));
    idsArg(ctx, { ids });
  }
  const numeric = ids.map(parseEmailId).filter((n): n is number => n !== undefined);
  const rows = await emailRows(db, accountId, numeric);
  const needRaw = props.some((p) => !ROW_PROPERTIES.has(p));
  const list: Record<string, Json>[] = [];
  const notFound: string[] = [];
  for (const id of ids) {
    const row = rows.get(parseEmailId(id) ?? -1);
    if (!row) {
      notFound.push(id);
      continue;
    }
    const raw = needRaw ? await getRaw(db, accountId, row.id) : undefined;
    list.push(
      emailView(props, body, row, raw, messageBlobId(row.id), (p) => partBlobId(row.id, p)),
    );
  }
  return { accountId: args.accountId, state, list, notFound };
}

/** Email/parse (section 4.9): Emails read from blobs (an upload, a message, an attached one). */
export async function emailParse(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  const blobIds = args.blobIds;
  if (!Array.isArray(blobIds) || !blobIds.every((b) => typeof b === "string")) {
    throw invalidArguments('"blobIds" must be an array of blob ids');
  }
  idsArg(ctx, { ids: blobIds });
  const props = emailProperties(
    args.properties === undefined || args.properties === null
      ? {
        properties: EMAIL_PROPERTIES.filter((p) =>
          !["id", "threadId", "mailboxIds", "keywords", "receivedAt"].includes(p)
        ),
      }
      : args,
  );
  const body = bodyOptions(args);
  const parsed: Record<string, Json> = {};
  const notParsable: string[] = [];
  const notFound: string[] = [];
  for (const blobId of blobIds as string[]) {
    const ref = parseBlobId(blobId);
    const bytes = ref ? await blobBytes(ctx, accountId, ref) : undefined;
    if (!bytes) {
      notFound.push(blobId);
      continue;
    }
    if (bytes.byteLength === 0) {
      notParsable.push(blobId);
      continue;
    }
    parsed[blobId] = emailView(props, body, undefined, bytes, blobId, (p) => subBlobId(blobId, p));
  }
  return {
    accountId: args.accountId,
    parsed: Object.keys(parsed).length ? parsed : null,
    notParsable: notParsable.length ? notParsable : null,
    notFound: notFound.length ? notFound : null,
  };
}

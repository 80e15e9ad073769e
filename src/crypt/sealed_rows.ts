/**
 * The message row's own copies of body text, sealed (encryption at rest): the parsed form's
 * `parsed` column and the list `preview`. Header metadata stays in clear, because SQL reads it
 * (IMAP SEARCH HEADER and JMAP header filters walk `parsed.headers`; the inbound report reads
 * `parsed.authentication`; listings sort by subject, addresses, dates and sizes): the sealed
 * `parsed` column is `{"headers": …, "authentication": …, "sealed": <the whole parsed JSON>}`.
 * Both are bound to their account (the additional data), so a sealed value copied into another
 * account's row does not open. Rows written before encryption, or with it off, read as before.
 */
import type { Queryable, Store } from "../store/store.ts";
import { vaultOf } from "../store/store.ts";
import { isSealedText, openText, sealText } from "./sealed_part.ts";

const parsedPlace = (accountId: number) => `parsed of account ${accountId}`;
const previewPlace = (accountId: number) => `preview of account ${accountId}`;

/** The parsed form's headers as kept in clear, when not larger than this (else sealed only). */
const CLEAR_HEADERS_CHARS = 32 * 1024;

/**
 * The most UTF-8 bytes of a parsed form that is sealed (services/parsed_row.ts cuts it to fit):
 * sealed and in base64 (a third more) beside its clear headers, the column still stays within
 * PARSED_ROW_BYTES (1 MiB), far from D1's 2 MB rows.
 */
export const SEALED_PARSED_BYTES = 740 * 1024;

/**
 * The `parsed` and `preview` column values of a new message row of `accountId`: sealed under its
 * data key when the store encrypts at rest, else as given (undefined: store them as they are).
 */
export async function sealRowTexts(
  store: Store,
  accountId: number,
  parsed: { headers?: unknown; authentication?: unknown },
  parsedJson: string,
  preview: string,
): Promise<{ parsed: string; preview: string } | undefined> {
  const vault = store.vault;
  if (!vault?.sealNew) return undefined;
  const key = await vault.activeKey(accountId);
  const headers = JSON.stringify(parsed.headers ?? []);
  const [sealed, sealedPreview] = await Promise.all([
    sealText(key, parsedJson, parsedPlace(accountId)),
    preview === "" ? "" : sealText(key, preview, previewPlace(accountId)),
  ]);
  const clear = `{"headers":${headers.length <= CLEAR_HEADERS_CHARS ? headers : "[]"}` +
    (parsed.authentication === undefined
      ? ""
      : `,"authentication":${JSON.stringify(parsed.authentication)}`);
  return { parsed: `${clear},"sealed":${JSON.stringify(sealed)}}`, preview: sealedPreview };
}

/** The parsed form's JSON of a row of `accountId` (opened when sealed); throws on bad JSON. */
export async function parsedJsonOf(db: Queryable, accountId: number, stored: string) {
  if (!stored.includes('"sealed":"')) return stored;
  const value = JSON.parse(stored) as { sealed?: unknown };
  if (typeof value.sealed !== "string" || !isSealedText(value.sealed)) return stored;
  return await openText(vaultOf(db)?.lookup, value.sealed, parsedPlace(accountId));
}

/** `parsedJsonOf`, parsed. */
export async function parsedOfRow<T = Record<string, unknown>>(
  db: Queryable,
  accountId: number,
  stored: string,
): Promise<T> {
  return JSON.parse(await parsedJsonOf(db, accountId, stored)) as T;
}

/** Opens the sealed previews of listed rows in place (one AES-GCM call each, keys cached). */
export async function openPreviews(
  db: Queryable,
  rows: { preview: string; accountId?: number }[],
  accountId?: number,
): Promise<void> {
  const keys = vaultOf(db)?.lookup;
  await Promise.all(rows.map(async (row) => {
    if (!isSealedText(row.preview)) return;
    const owner = row.accountId ?? accountId ?? 0;
    row.preview = await openText(keys, row.preview, previewPlace(owner));
  }));
}

const eventPlace = (eventId: string) => `webhook event ${eventId}`;

/**
 * A webhook event's payload as stored until it is posted (tx_webhook_deliveries.payload):
 * sealed under `accountId`'s data key when the store encrypts at rest — an `email.received`
 * event carries the message's text and HTML — and bound to its event id.
 */
export async function sealEventPayload(
  store: Store,
  accountId: number,
  eventId: string,
  json: string,
): Promise<string> {
  const vault = store.vault;
  if (!vault?.sealNew) return json;
  return await sealText(await vault.activeKey(accountId), json, eventPlace(eventId));
}

/** A stored event payload's JSON (opened when sealed; as it is otherwise). */
export async function openEventPayload(db: Queryable, eventId: string, stored: string) {
  return await openText(vaultOf(db)?.lookup, stored, eventPlace(eventId));
}

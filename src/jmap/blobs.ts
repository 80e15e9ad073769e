/**
 * Blobs (RFC 8620 section 6): upload into the account's own `uploads` (the bytes stored once
 * per content, the id the account's alone: transactional/uploads.ts), and the bytes behind a
 * blob id for download, Email/import, Email/parse and attachments. Every lookup carries the
 * caller's account: another account's message or upload is "not found", exactly like an id
 * that never existed (section 6.2), so nobody learns what exists elsewhere. Blob/copy (section
 * 6.3) within the one account a credential reaches.
 */
import type { MimePart } from "../../schemas/mime_structure.ts";
import { parseMimeStructure } from "../../schemas/mime_structure.ts";
import { AppError } from "../errors.ts";
import { getRaw } from "../services/messages.ts";
import { uploadedBytes } from "../transactional/uploads.ts";
import { account, type Ctx } from "./context.ts";
import { decodedContent } from "./email_body.ts";
import { type BlobRef, parseBlobId } from "./ids.ts";
import { invalidArguments, type Json, MethodError, type SetError, setError } from "./protocol.ts";

/**
 * The part at an IMAP-style section path ("2.1"): multipart children by position, and through a
 * message/rfc822 part into the message it holds (RFC 3501 section 6.4.5).
 */
export function resolvePart(root: MimePart, partId: string): MimePart | undefined {
  let part: MimePart | undefined = root;
  const path = partId.split(".").map(Number);
  for (let i = 0; i < path.length && part; i++) {
    const n = path[i];
    if (part.message && i > 0) part = part.message.body;
    if (part.parts.length > 0) part = part.parts[n - 1];
    else if (n !== 1) return undefined;
  }
  return part;
}

async function messageBytes(ctx: Ctx, accountId: number, id: number) {
  try {
    return await getRaw(ctx.deps.store.db, accountId, id);
  } catch (e) {
    if (e instanceof AppError && e.status === 404) return undefined;
    throw e;
  }
}

/** The bytes of a blob the account may read; undefined when it has no such blob. */
export async function blobBytes(
  ctx: Ctx,
  accountId: number,
  ref: BlobRef,
): Promise<Uint8Array | undefined> {
  let whole: Uint8Array | undefined;
  let partId: string | undefined;
  if (ref.kind === "upload") {
    whole = (await uploadedBytes(ctx.deps.store.db, accountId, [ref.uploadId])).get(ref.uploadId);
    partId = ref.partId;
  } else {
    whole = await messageBytes(ctx, accountId, ref.messageId);
    partId = ref.kind === "part" ? ref.partId : undefined;
  }
  if (!whole || partId === undefined) return whole;
  const part = resolvePart(parseMimeStructure(whole).body, partId);
  if (!part || part.type.toLowerCase() === "multipart") return undefined;
  return decodedContent(whole, part);
}

/**
 * Blob/copy (RFC 8620 section 6.3). A credential reaches one account, so `fromAccountId` and
 * `accountId` are the same account (another is fromAccountNotFound / accountNotFound): each
 * blob the account can read is "copied" under its own id, the rest are notFound.
 */
export async function blobCopy(ctx: Ctx, args: Record<string, Json>) {
  const from = account(ctx, args, "fromAccountId");
  account(ctx, args);
  const ids = args.blobIds;
  if (!Array.isArray(ids) || !ids.every((i) => typeof i === "string")) {
    throw invalidArguments('"blobIds" must be an array of blob ids');
  }
  if (ids.length > ctx.limits.maxObjectsInSet) {
    throw new MethodError("requestTooLarge", `at most ${ctx.limits.maxObjectsInSet} blobs`);
  }
  const copied: Record<string, string> = {};
  const notCopied: Record<string, SetError> = {};
  for (const id of ids as string[]) {
    const ref = parseBlobId(id);
    const bytes = ref && await blobBytes(ctx, from, ref);
    if (bytes) copied[id] = id;
    else notCopied[id] = setError("notFound", "no such blob in this account");
  }
  const orNull = <T>(o: Record<string, T>) => Object.keys(o).length ? o : null;
  return {
    fromAccountId: args.fromAccountId,
    accountId: args.accountId,
    copied: orNull(copied),
    notCopied: orNull(notCopied),
  };
}

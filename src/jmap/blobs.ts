/**
 * Blobs (RFC 8620 section 6): upload into the account's own `uploads` (the bytes stored once
 * per content, the id the account's alone: transactional/uploads.ts), and the bytes behind a
 * blob id for download, Email/import, Email/parse and attachments. Every lookup carries the
 * caller's account: another account's message or upload is "not found", exactly like an id
 * that never existed (section 6.2), so nobody learns what exists elsewhere.
 */
import type { MimePart } from "../../schemas/mime_structure.ts";
import { parseMimeStructure } from "../../schemas/mime_structure.ts";
import { AppError } from "../errors.ts";
import { getRaw } from "../services/messages.ts";
import { uploadedBytes } from "../transactional/uploads.ts";
import type { Ctx } from "./context.ts";
import { decodedContent } from "./email_body.ts";
import type { BlobRef } from "./ids.ts";

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

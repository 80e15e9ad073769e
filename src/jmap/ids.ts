/**
 * JMAP ids of Postern's objects (RFC 8620 section 1.2: strings of URL-safe characters): a letter
 * for the type, then the row id, so an id of one type is never taken for another. Blob ids name
 * what the bytes are: a stored message (`B<id>`), one body part of it (`B<id>-<partId with
 * "-" for ".">`), or an upload (`up_…`, the uploads table's own opaque id). Whose they are is
 * checked on every use, never implied by the id.
 */

export const accountIdOf = (id: number) => `a${id}`;
export const mailboxIdOf = (id: number) => `m${id}`;
export const emailIdOf = (id: number) => `e${id}`;
export const threadIdOf = (id: number) => `t${id}`;
export const submissionIdOf = (id: number) => `s${id}`;
export const messageBlobId = (id: number) => `B${id}`;
/** The blob id of one body part of the blob `blobId` (IMAP section numbering, "." as "-"). */
export const subBlobId = (blobId: string, partId: string) =>
  `${blobId}-${partId.replace(/\./g, "-")}`;
export const partBlobId = (id: number, partId: string) => subBlobId(messageBlobId(id), partId);

function numeric(prefix: string, id: unknown): number | undefined {
  if (typeof id !== "string" || !id.startsWith(prefix)) return undefined;
  const rest = id.slice(prefix.length);
  if (!/^[1-9][0-9]{0,15}$/.test(rest)) return undefined;
  const n = Number(rest);
  return Number.isSafeInteger(n) ? n : undefined;
}

export const parseAccountId = (id: unknown) => numeric("a", id);
export const parseMailboxId = (id: unknown) => numeric("m", id);
export const parseEmailId = (id: unknown) => numeric("e", id);
export const parseThreadId = (id: unknown) => numeric("t", id);
export const parseSubmissionId = (id: unknown) => numeric("s", id);

export type BlobRef =
  | { kind: "message"; messageId: number }
  | { kind: "part"; messageId: number; partId: string }
  | { kind: "upload"; uploadId: string; partId?: string };

/** What a blob id names; undefined for a string that is no blob id of ours. */
export function parseBlobId(id: unknown): BlobRef | undefined {
  if (typeof id !== "string" || id.length > 255) return undefined;
  const up = id.match(/^(up_[0-9a-f]{8,64})(?:-([0-9]+(?:-[0-9]+)*))?$/);
  if (up) {
    return up[2] === undefined
      ? { kind: "upload", uploadId: up[1] }
      : { kind: "upload", uploadId: up[1], partId: up[2].replace(/-/g, ".") };
  }
  const m = id.match(/^B([1-9][0-9]{0,15})(?:-([0-9]+(?:-[0-9]+)*))?$/);
  if (!m) return undefined;
  const messageId = Number(m[1]);
  if (!Number.isSafeInteger(messageId)) return undefined;
  return m[2] === undefined
    ? { kind: "message", messageId }
    : { kind: "part", messageId, partId: m[2].replace(/-/g, ".") };
}

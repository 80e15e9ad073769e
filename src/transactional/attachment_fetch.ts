/**
 * Attachments given by URL (`path`, as Resend's API has it): fetched when the send is made,
 * before anything is written, through the SSRF-safe fetcher (http/net_guard.ts: public
 * addresses only unless POSTERN_ATTACHMENT_FETCH_ALLOW_PRIVATE, the checked address is the one
 * connected to, no redirects), within a timeout and the message size limit. Any failure
 * refuses the send with the attachment's field named, so nothing goes out without a file the
 * caller asked for.
 */
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { attachmentPolicy, guardedFetch, RefusedTarget } from "../http/net_guard.ts";

export interface FetchedAttachment {
  content: Uint8Array;
  /** The response's media type (parameters dropped), when it sent a usable one. */
  contentType?: string;
  /** The URL path's last segment, decoded: the default filename. */
  filename: string;
}

const refused = (index: number, message: string) =>
  new AppError(422, "validation_failed", `attachment ${index}: ${message}`, [
    { path: `attachments.${index}.path`, message },
  ]);

/** The last path segment of `url`, or "attachment" when it has none usable. */
export function filenameFromUrl(url: string): string {
  const segment = new URL(url).pathname.split("/").filter(Boolean).pop() ?? "";
  let name = segment;
  try {
    name = decodeURIComponent(segment);
  } catch { /* keep it encoded */ }
  name = name.replace(/[\r\n\0/\\]/g, "").slice(0, 255);
  return name || "attachment";
}

/** Reads at most `limit` bytes of `body`; more is an error, not a truncation. */
export async function readCapped(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) out.set(c, at), at += c.byteLength;
  return out;
}

export async function fetchAttachment(
  deps: Deps,
  url: string,
  index: number,
): Promise<FetchedAttachment> {
  const limit = deps.config.maxMessageBytes;
  let res: Response;
  try {
    res = await guardedFetch(
      deps,
      deps.outbound,
      new Request(url, {
        headers: { "user-agent": "Postern-Attachments/1", accept: "*/*" },
        redirect: "manual",
        signal: AbortSignal.timeout(deps.config.attachmentFetchTimeoutMs),
      }),
      attachmentPolicy(deps),
    );
  } catch (e) {
    if (e instanceof RefusedTarget) throw refused(index, e.message);
    const timedOut = e instanceof DOMException && e.name === "TimeoutError";
    throw refused(index, timedOut ? "fetching it timed out" : `could not be fetched (${e})`);
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel();
    throw refused(index, `the URL redirects (${res.status}); give the final URL`);
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw refused(index, `the URL answered ${res.status}`);
  }
  const declared = Number(res.headers.get("content-length") ?? NaN);
  const content = declared > limit || !res.body
    ? (await res.body?.cancel(), declared > limit ? null : new Uint8Array(0))
    : await readCapped(res.body, limit);
  if (content === null) {
    throw new AppError(413, "message_too_large", `attachment ${index} exceeds ${limit} bytes`);
  }
  const type = res.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
  return {
    content,
    contentType: type && /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type : undefined,
    filename: filenameFromUrl(url),
  };
}

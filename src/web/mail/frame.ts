/**
 * A message's HTML body as its own document, for the webmail's `<iframe sandbox>`. The script
 * asks `POST /v1/messages/{id}/view` (bearer) for a short-lived signed URL, because a frame
 * cannot send an Authorization header; the URL names one message of one account and whether
 * remote images may load, and expires in {@link VIEW_TTL_SECONDS}.
 *
 * The document gets its own Content-Security-Policy rather than inheriting the page's (a
 * `srcdoc` frame would inherit it and lose the message's inline styles): CSP `sandbox` without
 * `allow-scripts` (scripts never run, even when the URL is opened directly; an opaque origin
 * that cannot reach the webmail's tokens), `default-src 'none'`, inline styles allowed, images
 * only from `data:` — plus `https:`/`http:` once the user asks to load remote images, so a
 * tracking pixel is not fetched before. No referrer leaves, links open in a new tab.
 */
import { jwtVerify, SignJWT } from "jose";
import type { Deps } from "../../deps.ts";
import type { AttachmentInfo } from "../../../schemas/mail.ts";
import { toBase64 } from "../../crypto.ts";
import { getAttachment, getMessage } from "../../services/messages.ts";

export const VIEW_TTL_SECONDS = 600;
const AUDIENCE = "postern-message-frame";

export interface ViewClaims {
  accountId: number;
  messageId: number;
  images: boolean;
}

/** A signed capability for one message's frame. */
export async function signView(deps: Deps, claims: ViewClaims): Promise<string> {
  const iat = Math.floor(deps.clock.now() / 1000);
  return await new SignJWT({ msg: claims.messageId, img: claims.images })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(String(claims.accountId))
    .setIssuer(deps.config.hostname)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + VIEW_TTL_SECONDS)
    .sign(deps.jwtKey);
}

async function verifyView(deps: Deps, token: string): Promise<ViewClaims | null> {
  try {
    const { payload } = await jwtVerify(token, deps.jwtKey, {
      algorithms: ["HS256"],
      audience: AUDIENCE,
      issuer: deps.config.hostname,
      currentDate: new Date(deps.clock.now()),
    });
    const accountId = Number(payload.sub);
    if (!Number.isSafeInteger(accountId) || typeof payload.msg !== "number") return null;
    return { accountId, messageId: payload.msg, images: payload.img === true };
  } catch {
    return null;
  }
}

/** Whether the HTML refers to images (or other resources) on remote servers. */
export function hasRemoteImages(html: string): boolean {
  return /<(img|image|input|video|audio|source|link)\b[^>]*\b(src|href|poster|srcset)\s*=\s*["']?\s*(https?:)?\/\//i
    .test(html) ||
    /url\(\s*["']?\s*(https?:)?\/\//i.test(html) ||
    /\bbackground\s*=\s*["']?\s*(https?:)?\/\//i.test(html);
}

/** Inline images (RFC 2392 `cid:` URLs) are embedded as data: URLs up to this many bytes. */
const MAX_INLINE_BYTES = 8 * 1024 * 1024;
const INLINE_TYPES = /^image\/(png|jpeg|gif|webp)$/i;

/**
 * RFC 2392: `cid:` URLs name a body part of the same message. The frame's CSP admits images
 * from `data:` only (its sandboxed origin could not fetch authenticated URLs anyway), so the
 * referenced parts are embedded — raster image types only, up to {@link MAX_INLINE_BYTES} in all.
 */
async function inlineCidImages(
  deps: Deps,
  claims: ViewClaims,
  html: string,
  attachments: AttachmentInfo[],
): Promise<string> {
  if (!/cid:/i.test(html)) return html;
  let budget = MAX_INLINE_BYTES;
  const urls = new Map<string, string>();
  for (const a of attachments) {
    const cid = a.contentId?.replace(/^<|>$/g, "");
    if (!cid || !INLINE_TYPES.test(a.contentType) || a.size > budget) continue;
    if (!html.includes(`cid:${cid}`)) continue;
    const part = await getAttachment(deps, claims.accountId, claims.messageId, a.index);
    budget -= part.content.length;
    if (budget < 0) break;
    urls.set(cid, `data:${a.contentType.toLowerCase()};base64,${toBase64(part.content)}`);
  }
  return html.replace(/cid:([^"'\s)>]+)/gi, (whole, id: string) => urls.get(id) ?? whole);
}

export function frameCsp(images: boolean): string {
  return [
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    `img-src data:${images ? " https: http:" : ""}`,
    "font-src data:",
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'self'",
    "sandbox allow-popups allow-popups-to-escape-sandbox",
  ].join("; ");
}

/** Prepended to the message's HTML: links open outside the frame, no referrer, light scheme. */
const PREAMBLE =
  '<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">' +
  '<base target="_blank">';

export async function messageFrame(deps: Deps, token: string): Promise<Response> {
  const claims = await verifyView(deps, token);
  const gone = (status: number, text: string) =>
    new Response(text, {
      status,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "content-security-policy": frameCsp(false),
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
      },
    });
  if (!claims) return gone(404, "This message view has expired: reopen the message.");
  let html: string;
  try {
    const message = await getMessage(deps.store.db, claims.accountId, claims.messageId);
    html = await inlineCidImages(deps, claims, message.html ?? "", message.attachments);
  } catch {
    return gone(404, "No such message.");
  }
  return new Response(PREAMBLE + html, {
    status: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": frameCsp(claims.images),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "SAMEORIGIN",
      "cross-origin-resource-policy": "same-origin",
      "cache-control": "private, no-store",
    },
  });
}

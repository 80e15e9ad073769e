/**
 * Postmark's sending API, as its SDK (npm `postmark`) writes it: PascalCase bodies at `/email`,
 * `/email/batch` and `/email/withTemplate`, recipients as one comma-separated string, headers
 * as [{Name, Value}], errors as {ErrorCode, Message} with Postmark's codes. `toTxSend` maps a
 * request onto Postern's own send request (tx_send.ts): `Tag` becomes a tag, `Metadata` the
 * metadata, `TemplateAlias` and `TemplateModel` a template by name and its variables. Pure.
 */
import { z } from "zod";

export const PostmarkAttachment = z.object({
  Name: z.string().min(1),
  Content: z.string().meta({ description: "Base64 content." }),
  ContentType: z.string().optional(),
  ContentID: z.string().nullish(),
}).meta({ id: "PostmarkAttachment" });

const PostmarkFields = {
  From: z.string(),
  To: z.string().optional(),
  Cc: z.string().optional(),
  Bcc: z.string().optional(),
  ReplyTo: z.string().optional(),
  Subject: z.string().optional(),
  HtmlBody: z.string().optional(),
  TextBody: z.string().optional(),
  Tag: z.string().optional(),
  Headers: z.array(z.object({ Name: z.string(), Value: z.string() })).optional(),
  TrackOpens: z.boolean().optional(),
  TrackLinks: z.enum(["None", "HtmlAndText", "HtmlOnly", "TextOnly"]).optional(),
  Metadata: z.record(z.string(), z.string()).optional(),
  Attachments: z.array(PostmarkAttachment).optional(),
  MessageStream: z.string().optional(),
};

export const PostmarkEmail = z.object(PostmarkFields).meta({ id: "PostmarkEmail" });
export type PostmarkEmail = z.infer<typeof PostmarkEmail>;

export const PostmarkTemplatedEmail = z.object({
  ...PostmarkFields,
  TemplateId: z.number().int().optional().meta({
    description: "Not supported: Postern's templates are named; give `TemplateAlias`.",
  }),
  TemplateAlias: z.string().optional(),
  TemplateModel: z.record(z.string(), z.unknown()).default({}),
  InlineCss: z.boolean().optional(),
}).meta({ id: "PostmarkTemplatedEmail" });
export type PostmarkTemplatedEmail = z.infer<typeof PostmarkTemplatedEmail>;

export const PostmarkBatch = z.array(PostmarkEmail).min(1).max(500).meta({ id: "PostmarkBatch" });

export const PostmarkResult = z.object({
  To: z.string().optional(),
  SubmittedAt: z.string().optional(),
  MessageID: z.string().optional(),
  ErrorCode: z.number().int(),
  Message: z.string(),
}).meta({ id: "PostmarkResult" });
export type PostmarkResult = z.infer<typeof PostmarkResult>;

/**
 * Splits a comma-separated address list (RFC 5322 section 3.4 address-list), keeping commas
 * inside a quoted display name or angle brackets.
 */
export function splitAddresses(list: string | undefined): string[] {
  if (!list) return [];
  const out: string[] = [];
  let cur = "", quoted = false, angle = false;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i];
    if (ch === "\\" && quoted) {
      cur += ch + (list[++i] ?? "");
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === "<") angle = true;
    else if (!quoted && ch === ">") angle = false;
    if (ch === "," && !quoted && !angle) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== "");
}

/** The Postern send request (input of tx_send.ts's TxSendRequest) for a Postmark request. */
export function toTxSend(p: PostmarkEmail | PostmarkTemplatedEmail): Record<string, unknown> {
  const templated = "TemplateModel" in p;
  const links = p.TrackLinks === undefined ? undefined : p.TrackLinks !== "None";
  return {
    from: p.From,
    to: splitAddresses(p.To),
    cc: splitAddresses(p.Cc),
    bcc: splitAddresses(p.Bcc),
    replyTo: splitAddresses(p.ReplyTo),
    ...(p.Subject !== undefined ? { subject: p.Subject } : {}),
    ...(p.HtmlBody !== undefined ? { html: p.HtmlBody } : {}),
    ...(p.TextBody !== undefined ? { text: p.TextBody } : {}),
    tags: p.Tag ? [p.Tag] : [],
    headers: Object.fromEntries((p.Headers ?? []).map((h) => [h.Name, h.Value])),
    metadata: p.Metadata ?? {},
    tracking: {
      ...(p.TrackOpens !== undefined ? { opens: p.TrackOpens } : {}),
      ...(links !== undefined ? { clicks: links } : {}),
    },
    attachments: (p.Attachments ?? []).map((a) => ({
      filename: a.Name,
      content: a.Content,
      ...(a.ContentType ? { contentType: a.ContentType } : {}),
      // Postmark writes "cid:logo.png"; the Content-ID itself is "logo.png".
      ...(a.ContentID ? { contentId: a.ContentID.replace(/^cid:/i, "") } : {}),
    })),
    ...(templated && p.TemplateAlias
      ? { template: { name: p.TemplateAlias }, variables: p.TemplateModel }
      : {}),
  };
}

/**
 * Postmark's error code and HTTP status for a Postern error (postmarkapp.com/developer/api/
 * overview#error-codes): 10 bad or missing token (401), 300 invalid email request, 400 sender
 * signature not found, 406 inactive (suppressed) recipient, 1101 template not found (422).
 */
export function postmarkError(status: number, code: string): { status: number; ErrorCode: number } {
  if (status === 401 || code === "token_invalid" || code === "unauthorized") {
    return { status: 401, ErrorCode: 10 };
  }
  if (code === "insufficient_scope" || code === "forbidden") return { status: 422, ErrorCode: 405 };
  if (code === "sender_not_allowed") return { status: 422, ErrorCode: 400 };
  if (status === 404) return { status: 422, ErrorCode: 1101 };
  if (status === 429) return { status: 429, ErrorCode: 0 };
  if (status >= 500) return { status: 500, ErrorCode: 0 };
  return { status: 422, ErrorCode: 300 };
}

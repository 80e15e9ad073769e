/**
 * Postmark's sending API, as its SDK (npm `postmark`) writes it: PascalCase bodies at `/email`,
 * `/email/batch`, `/email/withTemplate` and `/email/batchWithTemplates`, recipients as one
 * comma-separated string, headers as [{Name, Value}], errors as {ErrorCode, Message} with
 * Postmark's codes. `toTxSend` maps a request onto Postern's own send request (tx_send.ts):
 * `Tag` becomes a tag, `Metadata` the metadata, `TemplateAlias` (or the name a `TemplateId`
 * stands for, resolved by the route) and `TemplateModel` a template by name and its variables,
 * `MessageStream: "broadcast"` RFC 8058 one-click unsubscribe. Pure.
 */
import { z } from "zod";

export const PostmarkAttachment = z.object({
  Name: z.string().min(1).meta({ description: "The file name." }),
  Content: z.string().meta({ description: "Base64 content." }),
  ContentType: z.string().optional().meta({ description: "The MIME type." }),
  ContentID: z.string().nullish().meta({
    description: "Content-ID (`cid:…`), for an inline image.",
  }),
}).meta({ id: "PostmarkAttachment" });

const PostmarkFields = {
  From: z.string().meta({ description: "The sender, `a@x` or `Name <a@x>`." }),
  To: z.string().optional().meta({ description: "Recipients, comma-separated." }),
  Cc: z.string().optional().meta({ description: "Cc recipients, comma-separated." }),
  Bcc: z.string().optional().meta({ description: "Bcc recipients, comma-separated." }),
  ReplyTo: z.string().optional().meta({ description: "Reply-To, comma-separated." }),
  Subject: z.string().optional().meta({ description: "The Subject." }),
  HtmlBody: z.string().optional().meta({ description: "The HTML body." }),
  TextBody: z.string().optional().meta({ description: "The text body." }),
  Tag: z.string().optional().meta({ description: "One tag (becomes a Postern tag)." }),
  Headers: z.array(z.object({
    Name: z.string().meta({ description: "The header field's name." }),
    Value: z.string().meta({ description: "Its value." }),
  })).optional().meta({
    description: "Extra header fields as {Name, Value}.",
  }),
  TrackOpens: z.boolean().optional().meta({ description: "Open tracking for this message." }),
  TrackLinks: z.enum(["None", "HtmlAndText", "HtmlOnly", "TextOnly"]).optional().meta({
    description: "Click tracking: HtmlAndText and HtmlOnly rewrite the HTML part's links; " +
      "None and TextOnly rewrite none (Postern never rewrites links in the text part).",
  }),
  Metadata: z.record(z.string(), z.string()).optional().meta({
    description: "Your own key/value pairs.",
  }),
  Attachments: z.array(PostmarkAttachment).optional().meta({ description: "Files to attach." }),
  MessageStream: z.string().optional().meta({
    description: "Postmark's default streams: `outbound` (transactional, the default) or " +
      "`broadcast`, which adds RFC 8058 one-click unsubscribe (List-Unsubscribe; one recipient " +
      "per message). Any other stream is refused with ErrorCode 1235.",
  }),
};

export const PostmarkEmail = z.object(PostmarkFields).meta({
  id: "PostmarkEmail",
  example: {
    "From": "sender@example.com",
    "To": "alice@example.org, bob@example.org",
    "Subject": "Hello from Postmark's SDK",
    "HtmlBody": "<strong>Hello</strong>",
    "TextBody": "Hello",
    "Tag": "welcome",
    "Metadata": { "customer": "c_981" },
    "Headers": [{ "Name": "X-Campaign", "Value": "winter" }],
    "TrackOpens": true,
  },
});
export type PostmarkEmail = z.infer<typeof PostmarkEmail>;

export const PostmarkTemplatedEmail = z.object({
  ...PostmarkFields,
  TemplateId: z.number().int().positive().optional().meta({
    description: "A Postern template's `id` (as `POST /v1/templates` answers it, any of its " +
      "versions): the template's latest version is rendered, as Postmark renders a template's " +
      "current content. Give this or `TemplateAlias`.",
  }),
  TemplateAlias: z.string().optional().meta({
    description: "The Postern template's name. Give this or `TemplateId`.",
  }),
  TemplateModel: z.record(z.string(), z.unknown()).default({}).meta({
    description: "The template's variables.",
  }),
  InlineCss: z.boolean().optional().meta({ description: "Accepted and ignored." }),
}).meta({ id: "PostmarkTemplatedEmail" });
export type PostmarkTemplatedEmail = z.infer<typeof PostmarkTemplatedEmail>;

export const PostmarkBatch = z.array(PostmarkEmail).min(1).max(500).meta({ id: "PostmarkBatch" });

export const PostmarkTemplatedBatch = z.object({
  Messages: z.array(PostmarkTemplatedEmail).min(1).max(500).meta({
    description: "Up to 500 templated emails, each as `/email/withTemplate` takes it.",
  }),
}).meta({ id: "PostmarkTemplatedBatch" });

/** Postmark's two default message streams; Postern has no others. */
export const POSTMARK_STREAMS = ["outbound", "broadcast"];

export const PostmarkResult = z.object({
  To: z.string().optional().meta({ description: "The recipients, as given." }),
  SubmittedAt: z.string().optional().meta({ description: "When it was accepted." }),
  MessageID: z.string().optional().meta({ description: "The email's id (Postern's `em_…`)." }),
  ErrorCode: z.number().int().meta({ description: "0 when accepted; else Postmark's error code." }),
  Message: z.string().meta({ description: "`OK`, or what went wrong." }),
}).meta({
  id: "PostmarkResult",
  example: {
    "To": "alice@example.org, bob@example.org",
    "SubmittedAt": "2026-12-07T10:00:00.000Z",
    "MessageID": "em_5f0c9a1d2b3e4f5a6b7c8d9e",
    "ErrorCode": 0,
    "Message": "OK",
  },
});
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
export function toTxSend(
  p: PostmarkEmail | PostmarkTemplatedEmail,
  templateName?: string,
): Record<string, unknown> {
  const templated = "TemplateModel" in p;
  const template = templated ? p.TemplateAlias ?? templateName : undefined;
  // Postern rewrites links in the HTML part only, so TextOnly tracks nothing (not HTML links
  // the caller asked to leave alone).
  const links = p.TrackLinks === undefined
    ? undefined
    : p.TrackLinks === "HtmlAndText" || p.TrackLinks === "HtmlOnly";
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
    ...(templated && template ? { template: { name: template }, variables: p.TemplateModel } : {}),
    ...(p.MessageStream === "broadcast" ? { unsubscribe: true } : {}),
  };
}

/**
 * Postmark's error code and HTTP status for a Postern error (postmarkapp.com/developer/api/
 * overview#error-codes): 10 bad or missing token (401), 300 invalid email request, 400 sender
 * signature not found, 406 inactive (suppressed) recipient, 1101 template not found, 1235
 * message stream not found (422).
 */
export function postmarkError(status: number, code: string): { status: number; ErrorCode: number } {
  if (status === 401 || code === "token_invalid" || code === "unauthorized") {
    return { status: 401, ErrorCode: 10 };
  }
  if (code === "insufficient_scope" || code === "forbidden") return { status: 422, ErrorCode: 405 };
  if (code === "sender_not_allowed") return { status: 422, ErrorCode: 400 };
  if (code === "stream_not_found") return { status: 422, ErrorCode: 1235 };
  if (code === "recipients_suppressed") return { status: 422, ErrorCode: 406 };
  if (status === 404) return { status: 422, ErrorCode: 1101 };
  if (status === 429) return { status: 429, ErrorCode: 0 };
  if (status >= 500) return { status: 500, ErrorCode: 0 };
  return { status: 422, ErrorCode: 300 };
}

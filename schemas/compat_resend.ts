/**
 * Resend's email API, as its SDK (npm `resend`) writes it: snake_case bodies at `/emails`,
 * `"Name <a@x>"` addresses, a string or a list wherever a list is taken, tags as {name, value},
 * attachments with base64 `content`, and errors as {statusCode, name, message}. `toTxSend` maps
 * a request onto Postern's own send request (tx_send.ts), so both surfaces share one send path:
 * tags become metadata (Resend's tags are name/value pairs, Postern's are labels) and
 * `scheduled_at` becomes `sendAt`. Pure: no I/O.
 */
import { z } from "zod";

const OneOrMany = z.union([z.string(), z.array(z.string())]);

export const ResendAttachment = z.object({
  content: z.string().optional().meta({ description: "Base64 content." }),
  filename: z.string().min(1).optional().meta({
    description: "The file name: required with `content`; with `path`, defaults to the URL's " +
      "last segment.",
  }),
  path: z.string().optional().meta({
    description: "A public http(s) URL Postern fetches when sending.",
  }),
  content_type: z.string().optional().meta({
    description: "The MIME type (default: the fetched type for `path`, else " +
      "application/octet-stream).",
  }),
  content_id: z.string().optional().meta({
    description: "Content-ID: makes the attachment inline, for an image the HTML shows with " +
      "`cid:<content_id>`.",
  }),
}).meta({ id: "ResendAttachment" });

export const ResendTag = z.object({
  name: z.string().min(1).max(64).meta({ description: "The tag's name (kept as a metadata key)." }),
  value: z.string().max(256).meta({ description: "Its value." }),
}).meta({ id: "ResendTag" });

export const ResendTemplateRef = z.object({
  id: z.string().min(1).max(100).meta({
    description: "The template: its name (Resend's alias) or the `id` of any of its versions " +
      "(digits; a name when no version has that id); its latest version is rendered.",
  }),
  variables: z.record(z.string(), z.union([z.string(), z.number()])).optional().meta({
    description: "The template's variables.",
  }),
}).meta({ id: "ResendTemplateRef" });

/** A template `id` of digits is a version's numeric id; anything else is the template's name. */
export const templateNumber = (id: string): number | undefined =>
  /^[1-9]\d{0,14}$/.test(id) ? Number(id) : undefined;

export const ResendSendRequest = z.object({
  from: z.string().meta({ description: "The sender, `a@x` or `Name <a@x>`." }),
  to: OneOrMany.meta({ description: "Recipients: one address or a list." }),
  cc: OneOrMany.optional().meta({ description: "Cc recipients: one address or a list." }),
  bcc: OneOrMany.optional().meta({ description: "Bcc recipients: one address or a list." }),
  reply_to: OneOrMany.optional().meta({ description: "Reply-To: one address or a list." }),
  subject: z.string().default("").meta({ description: "The Subject." }),
  html: z.string().optional().meta({ description: "The HTML body." }),
  text: z.string().optional().meta({ description: "The plain-text body." }),
  headers: z.record(z.string(), z.string()).optional().meta({
    description: "Extra header fields.",
  }),
  tags: z.array(ResendTag).optional().meta({
    description: "Name/value pairs, kept as the message's metadata.",
  }),
  attachments: z.array(ResendAttachment).optional().meta({ description: "Files to attach." }),
  template: ResendTemplateRef.optional().meta({
    description: "Render subject, text and html from a Postern template (`POST /v1/templates`); " +
      "`subject`, `html` or `text` given here win.",
  }),
  topic_id: z.string().optional().meta({ description: "Not supported (refused)." }),
  scheduled_at: z.string().optional().meta({
    description: "ISO 8601 time to send at (natural language such as `in 1 min` is refused).",
  }),
}).meta({
  id: "ResendSendRequest",
  example: {
    "from": "Acme <onboarding@example.com>",
    "to": "alice@example.org",
    "subject": "Hello",
    "html": "<p>It works!</p>",
    "reply_to": "support@example.com",
    "tags": [{ "name": "category", "value": "welcome" }],
    "scheduled_at": "2026-12-08T09:00:00Z",
  },
});
export type ResendSendRequest = z.infer<typeof ResendSendRequest>;

export const ResendBatchRequest = z.array(ResendSendRequest).min(1).max(100).meta({
  id: "ResendBatchRequest",
});

const EmailId = z.string().meta({ description: "The email's id (Postern's `em_…`)." });
export const ResendId = z.object({ id: EmailId }).meta({
  id: "ResendId",
  example: { "id": "em_5f0c9a1d2b3e4f5a6b7c8d9e" },
});

/** `GET /emails`: Resend's list (newest first; `after`/`before` are email ids). */
export const ResendListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).meta({
    param: { name: "limit", in: "query" },
    description: "Emails per page (1 to 100).",
  }),
  after: z.string().max(64).optional().meta({
    param: { name: "after", in: "query" },
    description: "The emails sent before this one (the next page).",
  }),
  before: z.string().max(64).optional().meta({
    param: { name: "before", in: "query" },
    description: "The emails sent after this one (the previous page).",
  }),
}).refine((q) => !(q.after && q.before), { message: "give after or before, not both" });

export const ResendListedEmail = z.object({
  id: EmailId,
  to: z.array(z.string()).meta({ description: "Every recipient." }),
  from: z.string().meta({ description: "The From address." }),
  created_at: z.string().meta({ description: "When it was sent (ISO 8601)." }),
  subject: z.string().meta({ description: "The subject." }),
  bcc: z.null().meta({ description: "Always null in the list." }),
  cc: z.null().meta({ description: "Always null in the list." }),
  reply_to: z.null().meta({ description: "Always null in the list." }),
  last_event: z.string().meta({ description: "The latest event, in Resend's words." }),
  scheduled_at: z.string().nullable().meta({ description: "The scheduled time, if any." }),
}).meta({ id: "ResendListedEmail" });

export const ResendEmailList = z.object({
  object: z.literal("list").meta({ description: "Always `list`." }),
  has_more: z.boolean().meta({ description: "Whether more emails follow this page." }),
  data: z.array(ResendListedEmail).meta({ description: "The emails, newest first." }),
}).meta({ id: "ResendEmailList" });

export const ResendObjectId = z.object({
  object: z.literal("email").meta({ description: "Always `email`." }),
  id: EmailId,
}).meta({ id: "ResendObjectId" });

export const ResendBatchResponse = z.object({
  data: z.array(ResendId).meta({ description: "The ids of the accepted emails, in order." }),
  errors: z.array(z.object({
    index: z.number().int().meta({ description: "Position of the refused email." }),
    message: z.string().meta({ description: "Why it was refused." }),
  })).optional().meta({ description: "permissive mode: the emails that were refused." }),
}).meta({ id: "ResendBatchResponse" });

export const ResendUpdateRequest = z.object({
  scheduled_at: z.string().meta({ description: "The new ISO 8601 time to send at." }),
}).meta({ id: "ResendUpdateRequest" });

export const ResendEmail = z.object({
  object: z.literal("email").meta({ description: "Always `email`." }),
  id: z.string().meta({ description: "The email's id." }),
  from: z.string().meta({ description: "The sender." }),
  to: z.array(z.string()).meta({ description: "The To recipients." }),
  cc: z.array(z.string()).nullable().meta({ description: "The Cc recipients." }),
  bcc: z.array(z.string()).nullable().meta({ description: "The Bcc recipients." }),
  reply_to: z.array(z.string()).nullable().meta({ description: "The Reply-To addresses." }),
  subject: z.string().meta({ description: "The Subject." }),
  html: z.string().nullable().meta({ description: "The HTML body." }),
  text: z.string().nullable().meta({ description: "The text body." }),
  created_at: z.string().meta({ description: "When it was accepted." }),
  scheduled_at: z.string().nullable().meta({
    description: "When it is scheduled to go, if it was.",
  }),
  last_event: z.string().meta({
    description: "The latest event (queued, sent, delivered, bounced, …).",
  }),
  tags: z.array(ResendTag).meta({ description: "The tags it was sent with." }),
}).meta({ id: "ResendEmail" });
export type ResendEmail = z.infer<typeof ResendEmail>;

export const ResendError = z.object({
  statusCode: z.number().int().meta({ description: "The HTTP status." }),
  name: z.string().meta({ description: "Resend's error name, e.g. `validation_error`." }),
  message: z.string().meta({ description: "What went wrong." }),
}).meta({ id: "ResendError" });

const list = (v: string | string[] | undefined) => v === undefined ? [] : [v].flat();

/** The ISO 8601 forms Resend documents; anything else is refused rather than guessed. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** `scheduled_at` as an ISO string in UTC, or undefined when it is not ISO 8601 with an offset. */
export function scheduledTime(text: string): string | undefined {
  const t = text.trim();
  const ms = ISO_TIME.test(t) ? Date.parse(t.replace(" ", "T")) : NaN;
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export const SCHEDULED_AT_PROBLEM = "scheduled_at must be an ISO 8601 date-time with an offset";

/**
 * The Postern send request (input of tx_send.ts's TxSendRequest) for a Resend request;
 * `templateName` is the name a numeric `template.id` stands for (looked up by the caller).
 */
export function toTxSend(
  r: ResendSendRequest,
  templateName?: string,
): Record<string, unknown> | string {
  const sendAt = r.scheduled_at === undefined ? undefined : scheduledTime(r.scheduled_at);
  if (r.scheduled_at !== undefined && sendAt === undefined) return SCHEDULED_AT_PROBLEM;
  // Refused rather than dropped: a field the caller relies on must never vanish silently.
  if (r.topic_id !== undefined) return "topic_id is not supported";
  for (const a of r.attachments ?? []) {
    if ((a.content === undefined) === (a.path === undefined)) {
      return "each attachment needs exactly one of base64 `content` and a `path` URL";
    }
  }
  return {
    from: r.from,
    to: list(r.to),
    cc: list(r.cc),
    bcc: list(r.bcc),
    replyTo: list(r.reply_to),
    subject: r.subject,
    html: r.html,
    text: r.text,
    headers: r.headers ?? {},
    metadata: Object.fromEntries((r.tags ?? []).map((t) => [t.name, t.value])),
    attachments: (r.attachments ?? []).map((a) => ({
      ...(a.filename !== undefined ? { filename: a.filename } : {}),
      ...(a.content !== undefined ? { content: a.content } : { path: a.path }),
      ...(a.content_type ? { contentType: a.content_type } : {}),
      ...(a.content_id ? { contentId: a.content_id } : {}),
    })),
    ...(sendAt ? { sendAt } : {}),
    ...(r.template
      ? {
        template: { name: templateName ?? r.template.id },
        variables: r.template.variables ?? {},
      }
      : {}),
  };
}

/** Resend's last_event for a Postern timeline event. */
export function resendEvent(type: string): string {
  if (type === "cancelled") return "canceled";
  if (type === "deferred") return "delivery_delayed";
  return type;
}

/** Resend's error `name` for a Postern error, by status and code. */
export function resendErrorName(status: number, code: string): string {
  if (status === 401) return "missing_api_key";
  if (status === 403) {
    return code === "insufficient_scope" ? "restricted_api_key" : "invalid_api_key";
  }
  if (status === 404) return "not_found";
  if (status === 409) return "invalid_idempotent_request";
  if (status === 422 || status === 400) return "validation_error";
  if (status === 429) return "rate_limit_exceeded";
  return "application_error";
}

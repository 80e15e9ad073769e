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
    description: "Required with `content`; with `path`, defaults to the URL's last segment.",
  }),
  path: z.string().optional().meta({
    description: "A public http(s) URL Postern fetches when sending.",
  }),
  content_type: z.string().optional(),
  content_id: z.string().optional().meta({
    description: "Inline attachment: the HTML refers to it as `cid:<content_id>`.",
  }),
}).meta({ id: "ResendAttachment" });

export const ResendTag = z.object({
  name: z.string().min(1).max(64),
  value: z.string().max(256),
}).meta({ id: "ResendTag" });

export const ResendSendRequest = z.object({
  from: z.string(),
  to: OneOrMany,
  cc: OneOrMany.optional(),
  bcc: OneOrMany.optional(),
  reply_to: OneOrMany.optional(),
  subject: z.string().default(""),
  html: z.string().optional(),
  text: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  tags: z.array(ResendTag).optional(),
  attachments: z.array(ResendAttachment).optional(),
  template: z.unknown().optional().meta({
    description: "Not supported (refused, never dropped): render with Postern's own " +
      "`POST /v1/emails` and its `template`.",
  }),
  topic_id: z.string().optional().meta({ description: "Not supported (refused)." }),
  scheduled_at: z.string().optional().meta({
    description: "ISO 8601 time to send at (natural language such as `in 1 min` is refused).",
  }),
}).meta({ id: "ResendSendRequest" });
export type ResendSendRequest = z.infer<typeof ResendSendRequest>;

export const ResendBatchRequest = z.array(ResendSendRequest).min(1).max(100).meta({
  id: "ResendBatchRequest",
});

export const ResendId = z.object({ id: z.string() }).meta({ id: "ResendId" });
/** `GET /emails`: Resend's list (newest first; `after`/`before` are email ids). */
export const ResendListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20).meta({
    param: { name: "limit", in: "query" },
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
  id: z.string(),
  to: z.array(z.string()),
  from: z.string(),
  created_at: z.string(),
  subject: z.string(),
  bcc: z.null(),
  cc: z.null(),
  reply_to: z.null(),
  last_event: z.string(),
  scheduled_at: z.string().nullable(),
}).meta({ id: "ResendListedEmail" });

export const ResendEmailList = z.object({
  object: z.literal("list"),
  has_more: z.boolean(),
  data: z.array(ResendListedEmail),
}).meta({ id: "ResendEmailList" });

export const ResendObjectId = z.object({ object: z.literal("email"), id: z.string() })
  .meta({ id: "ResendObjectId" });

export const ResendBatchResponse = z.object({
  data: z.array(ResendId),
  errors: z.array(z.object({ index: z.number().int(), message: z.string() })).optional(),
}).meta({ id: "ResendBatchResponse" });

export const ResendUpdateRequest = z.object({ scheduled_at: z.string() })
  .meta({ id: "ResendUpdateRequest" });

export const ResendEmail = z.object({
  object: z.literal("email"),
  id: z.string(),
  from: z.string(),
  to: z.array(z.string()),
  cc: z.array(z.string()).nullable(),
  bcc: z.array(z.string()).nullable(),
  reply_to: z.array(z.string()).nullable(),
  subject: z.string(),
  html: z.string().nullable(),
  text: z.string().nullable(),
  created_at: z.string(),
  scheduled_at: z.string().nullable(),
  last_event: z.string(),
  tags: z.array(ResendTag),
}).meta({ id: "ResendEmail" });
export type ResendEmail = z.infer<typeof ResendEmail>;

export const ResendError = z.object({
  statusCode: z.number().int(),
  name: z.string(),
  message: z.string(),
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

/** The Postern send request (input of tx_send.ts's TxSendRequest) for a Resend request. */
export function toTxSend(r: ResendSendRequest): Record<string, unknown> | string {
  const sendAt = r.scheduled_at === undefined ? undefined : scheduledTime(r.scheduled_at);
  if (r.scheduled_at !== undefined && sendAt === undefined) return SCHEDULED_AT_PROBLEM;
  // Refused rather than dropped: a field the caller relies on must never vanish silently.
  if (r.template !== undefined) return "template is not supported here: use POST /v1/emails";
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

/**
 * Transactional sending's request and response bodies (issue 6): `POST /v1/emails` takes the
 * compose fields of api_send.ts plus tags, metadata, a template with variables, `sendAt`,
 * tracking switches and a one-click unsubscribe header; `POST /v1/emails/batch` takes up to 500
 * of them. Attachments come as base64 or by the id of an uploaded blob.
 */
import { z } from "zod";
import { ComposeFields, ContentId, RecipientOutcome } from "./api_send.ts";

export const TxAttachmentInput = z.object({
  filename: z.string().min(1).max(255).refine((v) => !/[\r\n\0]/.test(v), {
    message: "filename must not contain CR, LF or NUL",
  }).optional().meta({
    description: "Required, except with `path`, where it defaults to the URL's last segment.",
  }),
  contentType: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, "must be a MIME type like text/plain")
    .optional().meta({
      description: "Default: the fetched response's type for `path`, else " +
        "application/octet-stream.",
    }),
  content: z.string().regex(/^[A-Za-z0-9+/=\s]*$/, "must be base64").optional().meta({
    description: "Base64 content (or give `blobId`).",
  }),
  blobId: z.string().regex(
    /^up_[0-9a-f]{32}$/,
    "must be a blob id from POST /v1/emails/attachments",
  )
    .optional().meta({
      description: "An id from `POST /v1/emails/attachments`, usable only by the account that " +
        "uploaded it.",
    }),
  path: z.url({ protocol: /^https?$/ }).max(2000).optional().meta({
    description: "An http(s) URL Postern fetches when sending (public addresses only, no " +
      "redirects, at most the message size limit, within POSTERN_ATTACHMENT_FETCH_TIMEOUT_MS).",
  }),
  contentId: ContentId.optional().meta({
    description: 'Makes the attachment inline: the HTML shows it with `<img src="cid:…">`.',
  }),
}).refine(
  (a) => [a.content, a.blobId, a.path].filter((v) => v !== undefined).length === 1,
  { message: "give exactly one of content, blobId and path" },
).refine((a) => a.filename !== undefined || a.path !== undefined, {
  message: "filename is required (except with path)",
  path: ["filename"],
}).meta({ id: "TxAttachmentInput" });

const Tag = z.string().min(1).max(64).regex(/^[\w.:-]+$/, "letters, digits, _ . : - only");

export const TemplateRef = z.object({
  name: z.string().min(1).max(100),
  version: z.number().int().positive().optional().meta({ description: "Default: the latest." }),
}).meta({ id: "TemplateRef" });

export const TxSendFields = {
  ...ComposeFields,
  attachments: z.array(TxAttachmentInput).max(100).default([]),
  tags: z.array(Tag).max(20).default([]),
  metadata: z.record(z.string().max(64), z.string().max(1000)).default({}).refine(
    (m) => Object.keys(m).length <= 50,
    { message: "at most 50 metadata keys" },
  ),
  template: TemplateRef.optional().meta({
    description: "Render subject, text and html from this template (fields given here win).",
  }),
  variables: z.record(z.string(), z.unknown()).default({}).meta({
    description: "Template variables; `{{name}}` is HTML-escaped in html, `{{{name}}}` is not.",
  }),
  sendAt: z.iso.datetime({ offset: true }).optional().meta({
    description: "Send no earlier than this time (ISO 8601); cancel before with " +
      "`POST /v1/emails/{emailId}/cancel`.",
  }),
  tracking: z.object({ opens: z.boolean().optional(), clicks: z.boolean().optional() })
    .default({}).meta({ description: "Override the sending domain's tracking defaults." }),
  storeSent: z.boolean().optional().meta({
    description: "Keep a copy in the sending account's Sent mailbox (visible over IMAP, counted " +
      "against its quota). Default: yes for a signed-in user, no for an API key — an " +
      "application's mail is kept as its transactional record (`GET /v1/emails/{emailId}`), " +
      "so a busy sender never fills a mailbox.",
  }),
  unsubscribe: z.boolean().default(false).meta({
    description: "Add RFC 8058 List-Unsubscribe and List-Unsubscribe-Post (one recipient only).",
  }),
};

const atLeastOne = (r: { to: unknown[]; cc: unknown[]; bcc: unknown[] }) =>
  r.to.length + r.cc.length + r.bcc.length > 0;

export const TxSendRequest = z.object(TxSendFields).refine(atLeastOne, {
  message: "at least one recipient (to, cc or bcc) is required",
  path: ["to"],
}).meta({ id: "TxSendRequest" });
export type TxSendRequest = z.infer<typeof TxSendRequest>;

export const TxSendResponse = z.object({
  id: z.number().int().nullable().meta({
    description: "Id of the Sent copy in the sender's mailbox, when `storeSent` asked for one.",
  }),
  emailId: z.string().meta({ description: "The transactional message id (`em_…`)." }),
  messageId: z.string().meta({ description: "The Message-ID header." }),
  sendAt: z.string().nullable(),
  recipients: z.array(RecipientOutcome),
}).meta({ id: "TxSendResponse" });
export type TxSendResponse = z.infer<typeof TxSendResponse>;

export const MAX_BATCH = 500;

export const BatchRequest = z.array(TxSendRequest).min(1).max(MAX_BATCH).meta({
  id: "BatchRequest",
  description: `Up to ${MAX_BATCH} messages; each is sent (or refused) on its own.`,
});

export const BatchItemResult = z.object({
  index: z.number().int(),
  status: z.number().int().meta({ description: "201, or the problem's status." }),
  email: TxSendResponse.optional(),
  error: z.object({ code: z.string(), detail: z.string() }).optional(),
}).meta({ id: "BatchItemResult" });

export const BatchResponse = z.object({
  accepted: z.number().int(),
  refused: z.number().int(),
  results: z.array(BatchItemResult),
}).meta({ id: "BatchResponse" });
export type BatchResponse = z.infer<typeof BatchResponse>;

export const TX_EVENT_TYPES = [
  "queued",
  "scheduled",
  "sent",
  "delivered",
  "deferred",
  "bounced",
  "failed",
  "complained",
  "opened",
  "clicked",
  "unsubscribed",
  "suppressed",
  "cancelled",
] as const;
export const TxEventType = z.enum(TX_EVENT_TYPES);
export type TxEventType = z.infer<typeof TxEventType>;

export const TxEvent = z.object({
  id: z.number().int(),
  type: TxEventType,
  recipient: z.string().nullable(),
  data: z.record(z.string(), z.unknown()).meta({
    description: "What happened. `bounced`: status (RFC 3463), reason (the remote reply or " +
      "DSN diagnostic), stage (dns, connect, mail, rcpt, data or dsn), category (recipient, " +
      "mailbox, destination, sender, policy, content, system, network, protocol, transient, " +
      "unknown) and suppressed (whether the address went on the suppression list).",
  }),
  createdAt: z.string(),
}).meta({ id: "TxEvent" });

/** A message's state; `test`: sent with a test API key, recorded and never delivered. */
export const TX_STATES = ["scheduled", "accepted", "cancelled", "test"] as const;
export const TxState = z.enum(TX_STATES).meta({
  description: "scheduled, accepted, cancelled, or test: sent with a test API key " +
    "(`pst_test_…`), validated and recorded, never delivered.",
});

export const TxEmailView = z.object({
  emailId: z.string(),
  messageId: z.string(),
  from: z.string(),
  subject: z.string(),
  state: TxState,
  sendAt: z.string().nullable(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.string()),
  createdAt: z.string(),
  recipients: z.array(z.object({
    address: z.string(),
    status: z.string(),
    updatedAt: z.string(),
    events: z.array(TxEvent),
  })),
  events: z.array(TxEvent).meta({ description: "The whole timeline, oldest first." }),
}).meta({ id: "TxEmailView" });
export type TxEmailView = z.infer<typeof TxEmailView>;

/** `GET /v1/emails`: the filters of the sent-email list (all optional, combined with AND). */
export const SentListQuery = z.object({
  to: z.string().max(320).optional().meta({
    param: { name: "to", in: "query" },
    description: "A recipient address (exact, case-insensitive).",
  }),
  from: z.string().max(320).optional().meta({
    param: { name: "from", in: "query" },
    description: "The From address (exact, case-insensitive).",
  }),
  subject: z.string().max(200).optional().meta({
    param: { name: "subject", in: "query" },
    description: "Text the subject contains (case-insensitive).",
  }),
  tag: z.string().max(256).optional().meta({ param: { name: "tag", in: "query" } }),
  status: z.enum([
    ...TX_STATES,
    ...TX_EVENT_TYPES,
  ] as [string, ...string[]]).optional().meta({
    param: { name: "status", in: "query" },
    description: "A message state (scheduled, accepted, cancelled, test) or a recipient status: " +
      "messages with at least one recipient in it.",
  }),
  after: z.iso.datetime({ offset: true }).optional().meta({
    param: { name: "after", in: "query" },
    description: "Created at or after this time.",
  }),
  before: z.iso.datetime({ offset: true }).optional().meta({
    param: { name: "before", in: "query" },
    description: "Created before this time.",
  }),
  limit: z.coerce.number().int().min(1).max(100).default(50).meta({
    param: { name: "limit", in: "query" },
  }),
  cursor: z.string().max(200).optional().meta({
    param: { name: "cursor", in: "query" },
    description: "`nextCursor` of the previous page.",
  }),
});

export const SentListItem = z.object({
  emailId: z.string(),
  messageId: z.string(),
  from: z.string(),
  subject: z.string(),
  state: TxState,
  sendAt: z.string().nullable(),
  tags: z.array(z.string()),
  createdAt: z.string(),
  recipients: z.array(z.object({ address: z.string(), status: z.string() })),
  lastEvent: z.string().nullable().meta({ description: "The latest timeline event's type." }),
}).meta({ id: "SentEmail" });

export const SentListResponse = z.object({
  data: z.array(SentListItem),
  nextCursor: z.string().nullable().meta({ description: "null on the last page." }),
}).meta({ id: "SentEmailList" });

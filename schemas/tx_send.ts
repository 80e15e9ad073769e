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
    description: "The file name shown to the recipient (no CR, LF or NUL); required, except " +
      "with `path`, where it defaults to the URL's last segment.",
  }),
  contentType: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, "must be a MIME type like text/plain")
    .optional().meta({
      description: "The MIME type, e.g. `application/pdf`. Default: the fetched response's " +
        "type for `path`, else application/octet-stream.",
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
  name: z.string().min(1).max(100).meta({ description: "The template's name." }),
  version: z.number().int().positive().optional().meta({ description: "Default: the latest." }),
}).meta({ id: "TemplateRef" });

export const TxSendFields = {
  ...ComposeFields,
  attachments: z.array(TxAttachmentInput).max(100).default([]).meta({
    description: "Files to attach (at most 100), as base64 or by `blobId`.",
  }),
  tags: z.array(Tag).max(20).default([]).meta({
    description: "Labels for analytics and webhooks (at most 20; letters, digits, `_ . : -`).",
  }),
  metadata: z.record(z.string().max(64), z.string().max(1000)).default({}).refine(
    (m) => Object.keys(m).length <= 50,
    { message: "at most 50 metadata keys" },
  ).meta({
    description: "Your own key/value pairs (at most 50), returned in events and webhooks.",
  }),
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
  tracking: z.object({
    opens: z.boolean().optional().meta({ description: "Track opens (a pixel in the HTML)." }),
    clicks: z.boolean().optional().meta({ description: "Track clicks (links rewritten)." }),
  })
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
}).meta({
  id: "TxSendRequest",
  example: {
    "from": "Acme <billing@example.com>",
    "to": ["alice@example.org"],
    "subject": "Your invoice #1042",
    "text": "Hi Alice, your invoice is attached.",
    "html": "<p>Hi Alice, your invoice is attached.</p>",
    "attachments": [{
      "filename": "invoice-1042.pdf",
      "contentType": "application/pdf",
      "content": "JVBERi0xLjcK",
    }],
    "tags": ["invoice"],
    "metadata": { "customer": "c_981" },
    "sendAt": "2026-12-08T09:00:00Z",
  },
});
export type TxSendRequest = z.infer<typeof TxSendRequest>;

export const TxSendResponse = z.object({
  id: z.number().int().nullable().meta({
    description: "Id of the Sent copy in the sender's mailbox, when `storeSent` asked for one.",
  }),
  emailId: z.string().meta({ description: "The transactional message id (`em_…`)." }),
  messageId: z.string().meta({ description: "The Message-ID header." }),
  sendAt: z.string().nullable().meta({
    description: "When it will be sent, for a scheduled message (ISO 8601); null when sent now.",
  }),
  recipients: z.array(RecipientOutcome).meta({ description: "What happened to each recipient." }),
}).meta({
  id: "TxSendResponse",
  example: {
    "id": null,
    "emailId": "em_5f0c9a1d2b3e4f5a6b7c8d9e",
    "messageId": "<em_5f0c9a1d2b3e4f5a6b7c8d9e@example.com>",
    "sendAt": "2026-12-08T09:00:00.000Z",
    "recipients": [{ "address": "alice@example.org", "status": "scheduled" }],
  },
});
export type TxSendResponse = z.infer<typeof TxSendResponse>;

export const MAX_BATCH = 500;

export const BatchRequest = z.array(TxSendRequest).min(1).max(MAX_BATCH).meta({
  id: "BatchRequest",
  example: [
    { from: "billing@example.com", to: ["alice@example.org"], subject: "Receipt", text: "Thanks!" },
    {
      from: "billing@example.com",
      to: "Bob <bob@example.org>",
      template: { name: "welcome" },
      variables: { name: "Bob", product: "Acme" },
      tags: ["welcome"],
    },
  ],
  description: `Up to ${MAX_BATCH} messages; each is sent (or refused) on its own.`,
});

export const BatchItemResult = z.object({
  index: z.number().int().meta({ description: "Position of the message in the request." }),
  status: z.number().int().meta({ description: "201, or the problem's status." }),
  email: TxSendResponse.optional().meta({ description: "The send's answer, when accepted." }),
  error: z.object({
    code: z.string().meta({ description: "The problem's stable code." }),
    detail: z.string().meta({ description: "What was wrong." }),
  }).optional().meta({ description: "Why it was refused." }),
}).meta({ id: "BatchItemResult" });

export const BatchResponse = z.object({
  accepted: z.number().int().meta({ description: "How many messages were accepted." }),
  refused: z.number().int().meta({ description: "How many were refused." }),
  results: z.array(BatchItemResult).meta({
    description: "One result per message, in request order.",
  }),
}).meta({
  id: "BatchResponse",
  example: {
    "accepted": 1,
    "refused": 1,
    "results": [{
      "index": 0,
      "status": 201,
      "email": {
        "id": null,
        "emailId": "em_5f0c9a1d2b3e4f5a6b7c8d9e",
        "messageId": "<em_5f0c9a1d2b3e4f5a6b7c8d9e@example.com>",
        "sendAt": null,
        "recipients": [{ "address": "alice@example.org", "status": "queued" }],
      },
    }, {
      "index": 1,
      "status": 422,
      "error": {
        "code": "validation_failed",
        "detail": "to: at least one recipient (to, cc or bcc) is required",
      },
    }],
  },
});
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
  id: z.number().int().meta({ description: "The event's id (increasing)." }),
  type: TxEventType.meta({ description: "What happened." }),
  recipient: z.string().nullable().meta({
    description: "The recipient it is about, or null for the whole message.",
  }),
  data: z.record(z.string(), z.unknown()).meta({
    description: "What happened. `bounced`: status (RFC 3463), reason (the remote reply or " +
      "DSN diagnostic), stage (dns, connect, mail, rcpt, data or dsn), category (recipient, " +
      "mailbox, destination, sender, policy, content, system, network, protocol, transient, " +
      "unknown) and suppressed (whether the address went on the suppression list).",
  }),
  createdAt: z.string().meta({ description: "When (ISO 8601)." }),
}).meta({ id: "TxEvent" });

/** A message's state; `test`: sent with a test API key, recorded and never delivered. */
export const TX_STATES = ["scheduled", "accepted", "cancelled", "test"] as const;
export const TxState = z.enum(TX_STATES).meta({
  description: "scheduled, accepted, cancelled, or test: sent with a test API key " +
    "(`pst_test_…`), validated and recorded, never delivered.",
});

export const TxEmailView = z.object({
  emailId: z.string().meta({ description: "The transactional message id (`em_…`)." }),
  messageId: z.string().meta({ description: "Its Message-ID header." }),
  from: z.string().meta({ description: "The From address." }),
  subject: z.string().meta({ description: "The Subject." }),
  state: TxState.meta({
    description: "scheduled: waiting for `sendAt`; accepted: being or been delivered; " +
      "cancelled; test: sent with a test key, recorded only.",
  }),
  sendAt: z.string().nullable().meta({
    description: "When a scheduled message goes out (ISO 8601).",
  }),
  tags: z.array(z.string()).meta({ description: "Tags given at send time." }),
  metadata: z.record(z.string(), z.string()).meta({ description: "Metadata given at send time." }),
  createdAt: z.string().meta({ description: "When it was accepted (ISO 8601)." }),
  recipients: z.array(z.object({
    address: z.string().meta({ description: "The recipient address." }),
    status: z.string().meta({
      description: "Its latest status (the last event type that " +
        "changes it: queued, sent, delivered, deferred, bounced, …).",
    }),
    updatedAt: z.string().meta({ description: "When the status last changed (ISO 8601)." }),
    events: z.array(TxEvent).meta({ description: "This recipient's timeline, oldest first." }),
  })).meta({ description: "Each recipient with its own status and timeline." }),
  events: z.array(TxEvent).meta({ description: "The whole timeline, oldest first." }),
}).meta({
  id: "TxEmailView",
  example: {
    "emailId": "em_5f0c9a1d2b3e4f5a6b7c8d9e",
    "messageId": "<em_5f0c9a1d2b3e4f5a6b7c8d9e@example.com>",
    "from": "billing@example.com",
    "subject": "Your invoice #1042",
    "state": "accepted",
    "sendAt": null,
    "tags": ["invoice"],
    "metadata": { "customer": "c_981" },
    "createdAt": "2026-12-07T10:00:00.000Z",
    "recipients": [{
      "address": "alice@example.org",
      "status": "delivered",
      "updatedAt": "2026-12-07T10:00:02.000Z",
      "events": [],
    }],
    "events": [{
      "id": 1,
      "type": "queued",
      "recipient": "alice@example.org",
      "data": {},
      "createdAt": "2026-12-07T10:00:00.000Z",
    }, {
      "id": 2,
      "type": "sent",
      "recipient": "alice@example.org",
      "data": { "route": "bridge" },
      "createdAt": "2026-12-07T10:00:01.000Z",
    }, {
      "id": 3,
      "type": "delivered",
      "recipient": "alice@example.org",
      "data": { "remoteMta": "mx.example.org", "response": "250 2.0.0 Ok: queued" },
      "createdAt": "2026-12-07T10:00:02.000Z",
    }],
  },
});
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
  tag: z.string().max(256).optional().meta({
    param: { name: "tag", in: "query" },
    description: "Emails carrying this tag.",
  }),
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
    description: "Emails per page (1 to 100).",
  }),
  cursor: z.string().max(200).optional().meta({
    param: { name: "cursor", in: "query" },
    description: "`nextCursor` of the previous page.",
  }),
});

export const SentListItem = z.object({
  emailId: z.string().meta({ description: "The email's id (`em_…`)." }),
  messageId: z.string().meta({ description: "Its Message-ID header field." }),
  from: z.string().meta({ description: "The From address." }),
  subject: z.string().meta({ description: "The subject." }),
  state: TxState.meta({
    description: "scheduled: waiting for `sendAt`; accepted: being or been delivered; " +
      "cancelled; test: sent with a test key, recorded only.",
  }),
  sendAt: z.string().nullable().meta({ description: "When a scheduled email may leave." }),
  tags: z.array(z.string()).meta({ description: "Its tags." }),
  createdAt: z.string().meta({ description: "When it was sent (ISO 8601)." }),
  recipients: z.array(z.object({
    address: z.string().meta({ description: "The recipient." }),
    status: z.string().meta({ description: "Its latest status (queued, delivered, …)." }),
  })).meta({ description: "Every recipient with its status." }),
  lastEvent: z.string().nullable().meta({ description: "The latest timeline event's type." }),
}).meta({ id: "SentEmail" });

export const SentListResponse = z.object({
  data: z.array(SentListItem).meta({ description: "The page, newest first." }),
  nextCursor: z.string().nullable().meta({ description: "null on the last page." }),
}).meta({ id: "SentEmailList" });

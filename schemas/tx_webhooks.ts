/**
 * Webhook endpoint API bodies. Event types are `email.<timeline type>` (email.delivered,
 * email.bounced, …), `email.received` for inbound mail, or `email.*`; none means all.
 */
import { z } from "zod";
import { AttachmentInfo, NamedAddress } from "./mail.ts";
import { TX_EVENT_TYPES, type TxEventType } from "./tx_send.ts";

export const WEBHOOK_EVENT_TYPES = [
  ...TX_EVENT_TYPES.map((t) => `email.${t}`),
  "email.received",
  "email.*",
];

export const WebhookInput = z.object({
  url: z.string().url().max(2000).meta({
    description: "The https (or http) URL to post to; public addresses only.",
  }),
  events: z.array(
    z.string().refine((e) => WEBHOOK_EVENT_TYPES.includes(e), {
      message: `one of ${WEBHOOK_EVENT_TYPES.join(", ")}`,
    }),
  ).max(50).default([]).meta({
    description: "Event types to receive (`email.delivered`, `email.*`, …); empty: every event.",
  }),
  includeRaw: z.boolean().default(false).meta({
    description: "email.received: add the raw RFC 5322 message (base64).",
  }),
}).meta({
  id: "WebhookInput",
  example: {
    "url": "https://hooks.example.com/postern",
    "events": ["email.delivered", "email.bounced", "email.received"],
    "includeRaw": false,
  },
});

export const WebhookUpdate = z.object({
  url: WebhookInput.shape.url.optional(),
  events: WebhookInput.shape.events.unwrap().optional().meta({
    description: "Replaces the list; an empty list means every event.",
  }),
  includeRaw: z.boolean().optional().meta({
    description: "email.received: add the raw RFC 5322 message (base64).",
  }),
  active: z.boolean().optional().meta({
    description: "false pauses the endpoint: no new events are queued for it until true.",
  }),
}).meta({ id: "WebhookUpdate" });

export const WebhookView = z.object({
  id: z.number().int().meta({ description: "The endpoint's id." }),
  url: z.string().meta({ description: "Where events are posted." }),
  events: z.array(z.string()).meta({
    description: "The event types it receives; empty: every event.",
  }),
  includeRaw: z.boolean().meta({
    description: "Whether `email.received` carries the raw message.",
  }),
  active: z.boolean().meta({ description: "Whether events are posted to it." }),
  previousSecretUntil: z.string().nullable().meta({
    description: "Until when the previous secret also signs (after a rotation).",
  }),
  createdAt: z.string().meta({ description: "When it was added (ISO 8601)." }),
}).meta({
  id: "Webhook",
  description: "A webhook endpoint: where events are posted and which ones.",
});

export const WebhookWithSecret = z.object({
  webhook: WebhookView,
  secret: z.string().meta({ description: "`whsec_…`: shown only now." }),
}).meta({
  id: "WebhookWithSecret",
  example: {
    "webhook": {
      "id": 3,
      "url": "https://hooks.example.com/postern",
      "events": ["email.delivered", "email.bounced"],
      "includeRaw": false,
      "active": true,
      "previousSecretUntil": null,
      "createdAt": "2026-12-07T10:00:00.000Z",
    },
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  },
});

export const RotateRequest = z.object({
  overlapSeconds: z.number().int().min(0).max(7 * 86_400).default(86_400).meta({
    description: "How long the old secret keeps signing too (second signature).",
  }),
}).meta({ id: "WebhookRotateRequest" });

export const WebhookDeliveryView = z.object({
  id: z.number().int().meta({ description: "The delivery's id." }),
  eventId: z.string().meta({ description: "The event's id, sent as `webhook-id`." }),
  eventType: z.string().meta({ description: "The event type, e.g. `email.delivered`." }),
  state: z.enum(["pending", "delivering", "succeeded", "failed"]).meta({
    description:
      "pending: waiting for its next attempt; delivering: being posted; succeeded: a 2xx " +
      "answered; failed: given up.",
  }),
  attempts: z.number().int().meta({ description: "Attempts so far." }),
  nextAttemptAt: z.string().nullable().meta({
    description: "When the next attempt is due, while pending.",
  }),
  lastStatus: z.number().int().nullable().meta({
    description: "The HTTP status of the last attempt, if one answered.",
  }),
  lastError: z.string().nullable().meta({ description: "Why the last attempt failed, if it did." }),
  payload: z.record(z.string(), z.unknown()).meta({
    description: "The body posted (see the Webhooks section).",
  }),
  createdAt: z.string().meta({ description: "When the event happened (ISO 8601)." }),
}).meta({ id: "WebhookDelivery" });

// --- The events Postern posts (one source for the sender and the OpenAPI `webhooks` section) ---

const EVENT_DETAILS: Record<TxEventType, string> = {
  queued: "Accepted and waiting for delivery to a remote server.",
  scheduled: "Accepted with `sendAt`; `sendAt` says when it will go out.",
  sent: "Left Postern (`route: local` for a local recipient, delivered in the same step).",
  delivered: "The recipient's server accepted it (or a local mailbox stored it: `local: true`).",
  deferred: "A temporary failure; Postern retries. `reason`, `status`, `stage` say why.",
  bounced: "Permanently refused, by the remote reply or a returned DSN: `status` (RFC 3463), " +
    "`reason`, `stage`, `category`, `suppressed`, `source`, `report`.",
  failed: "Postern gave up on the recipient (`reason`, `code`).",
  complained: "The recipient reported it as spam (ARF feedback: `feedbackType`, `report`).",
  opened: "The open-tracking pixel was loaded.",
  clicked: "A tracked link was followed (`url`).",
  unsubscribed: "The recipient unsubscribed (RFC 8058 one-click or the confirmation page).",
  suppressed: "Not sent: the address is on the sending domain's suppression list.",
  cancelled: "A scheduled message was cancelled before it was sent.",
};

/**
 * `data` of every `email.<timeline type>` event: the message, the recipient, and the details.
 * Built by transactional/timeline.ts `recordEvent` (typed against this) and, for `email.sent`
 * of a claimed outbox batch, in SQL by transactional/outbox_events.ts;
 * test/webhook_payloads_test.ts checks real posts against it field by field.
 */
export const EmailEventData = z.object({
  emailId: z.string().meta({
    description: "The transactional message id (`em_…`).",
    example: "em_3f9a2c",
  }),
  messageId: z.string().meta({ description: "Its Message-ID header." }),
  from: z.string().meta({ description: "The From address." }),
  to: z.string().nullable().meta({
    description: "The recipient this event is about (lower case).",
  }),
  subject: z.string().meta({ description: "The Subject." }),
  tags: z.array(z.string()).meta({ description: "Tags given at send time." }),
  metadata: z.record(z.string(), z.string()).meta({ description: "Metadata given at send time." }),
  sendAt: z.string().optional().meta({
    description: "`scheduled`: when it will be sent (ISO 8601).",
  }),
  route: z.string().optional().meta({
    description: "`sent`: `local` for a local recipient, `bridge` when handed to the bridge.",
  }),
  local: z.boolean().optional().meta({ description: "`delivered`: stored in a local mailbox." }),
  status: z.string().optional().meta({
    description: "`bounced`/`deferred`: the enhanced status code (RFC 3463), e.g. `5.1.1`.",
  }),
  reason: z.string().optional().meta({ description: "The remote reply or DSN diagnostic." }),
  code: z.string().optional().meta({ description: "`failed`: Postern's error code." }),
  stage: z.string().nullable().optional().meta({
    description: "Where it failed: dns, connect, mail, rcpt, data or dsn.",
  }),
  category: z.string().optional().meta({
    description: "`bounced`: recipient, mailbox, destination, sender, policy, content, system, " +
      "network, protocol, transient or unknown.",
  }),
  suppressed: z.boolean().optional().meta({
    description: "`bounced`: whether the address went on the suppression list.",
  }),
  source: z.string().optional().meta({ description: "`dsn` or `arf`: the report it came from." }),
  report: z.string().optional().meta({
    description: "The report's Message-ID, or `sha256:` and the report's digest when it has " +
      "none; a report that arrives twice is recorded once.",
  }),
  feedbackType: z.string().optional().meta({
    description: "`complained`: the ARF Feedback-Type (RFC 5965), e.g. `abuse`.",
  }),
  url: z.string().optional().meta({ description: "`clicked`: the link that was followed." }),
  remoteMta: z.string().optional().meta({
    description: "`delivered`/`bounced`: the remote server that answered.",
  }),
  response: z.string().optional().meta({
    description: "`delivered`: the remote server's final reply (at most 500 characters).",
  }),
  attempts: z.number().int().optional().meta({
    description: "`deferred`: delivery attempts so far.",
  }),
  nextAttemptAt: z.string().optional().meta({
    description: "`deferred`: when the next attempt is due (ISO 8601).",
  }),
  userAgent: z.string().optional().meta({
    description: "`opened`/`clicked`: the User-Agent that loaded the pixel or followed the link.",
  }),
  oneClick: z.boolean().optional().meta({
    description: "`unsubscribed`: by RFC 8058 one-click POST.",
  }),
}).catchall(z.unknown()).meta({
  id: "EmailEventData",
  description: "The message an event is about, and what happened (fields by event type).",
});
export type EmailEventData = z.infer<typeof EmailEventData>;

/** `data` of `email.received`: a message stored in an Inbox or Junk, in its parsed JSON form. */
export const ReceivedEventData = z.object({
  id: z.number().int().meta({ description: "The message's id in the mailbox API." }),
  mailbox: z.enum(["inbox", "junk"]).meta({ description: "Where it was filed." }),
  messageId: z.string().nullable().meta({ description: "Its Message-ID header, if any." }),
  from: NamedAddress.nullable().meta({ description: "The From address, if any." }),
  to: z.array(NamedAddress).meta({ description: "The To addresses." }),
  cc: z.array(NamedAddress).meta({ description: "The Cc addresses." }),
  subject: z.string().meta({ description: "The Subject (empty when absent)." }),
  date: z.string().meta({ description: "When it was sent (Date header, else arrival), ISO 8601." }),
  text: z.string().nullable().meta({ description: "The plain-text body, if any." }),
  html: z.string().nullable().meta({ description: "The HTML body, if any (not sanitized)." }),
  headers: z.array(z.object({
    name: z.string().meta({ description: "Header field name." }),
    value: z.string().meta({ description: "Its unfolded value." }),
  })).meta({ description: "Every header field, in order." }),
  attachments: z.array(AttachmentInfo).meta({ description: "Attachments (not their content)." }),
  authentication: z.record(z.string(), z.unknown()).nullable().meta({
    description: "SPF, DKIM, DMARC and ARC verdicts from the receiving server, if checked.",
  }),
  size: z.number().int().meta({ description: "Size of the raw message in bytes." }),
  raw: z.string().optional().meta({
    description: "The raw RFC 5322 message in base64, when the endpoint has `includeRaw`.",
  }),
}).meta({ id: "ReceivedEventData", description: "A received message, parsed." });
export type ReceivedEventData = z.infer<typeof ReceivedEventData>;

/** The body of every post: Standard Webhooks' `{type, timestamp, data}`. */
const envelope = <T extends z.ZodType>(type: string, data: T, description: string) =>
  z.object({
    type: z.literal(type).meta({ description: "The event type." }),
    timestamp: z.iso.datetime().meta({ description: "When it happened (ISO 8601, UTC)." }),
    data,
  }).meta({ id: `WebhookEvent_${type.replace(/\W/g, "_")}`, description });

export type WebhookEventType = `email.${TxEventType}` | "email.received" | "webhook.test";

/** `data` of `webhook.test` (transactional/webhooks.ts `sendTestEvent`). */
export const TestEventData = z.object({
  webhookId: z.number().int().meta({ description: "The endpoint's id." }),
  url: z.string().meta({ description: "The endpoint's URL." }),
  message: z.string().meta({ description: "A fixed text saying this is a test." }),
}).meta({
  id: "TestEventData",
  description: "The payload of `webhook.test`: which endpoint was tested.",
});

/** Every event type Postern posts, with its body's schema. */
export const WEBHOOK_EVENTS = Object.fromEntries([
  ...TX_EVENT_TYPES.map((t) =>
    [
      `email.${t}`,
      envelope(`email.${t}`, EmailEventData, EVENT_DETAILS[t]),
    ] as const
  ),
  [
    "email.received",
    envelope("email.received", ReceivedEventData, "A message arrived in an Inbox or Junk."),
  ] as const,
  [
    "webhook.test",
    envelope(
      "webhook.test",
      TestEventData,
      "Sent to one endpoint when its owner asks (`POST /v1/webhooks/{id}/test`), whatever it " +
        "subscribes to.",
    ),
  ] as const,
]) as Record<WebhookEventType, z.ZodType>;

/** Any event body (checks a delivery's payload, as a receiver would). */
export const WebhookEvent = z.union(Object.values(WEBHOOK_EVENTS) as [z.ZodType, ...z.ZodType[]]);

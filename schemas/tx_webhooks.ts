/**
 * Webhook endpoint API bodies. Event types are `email.<timeline type>` (email.delivered,
 * email.bounced, …), `email.received` for inbound mail, or `email.*`; none means all.
 */
import { z } from "zod";
import { TX_EVENT_TYPES } from "./tx_send.ts";

export const WEBHOOK_EVENT_TYPES = [
  ...TX_EVENT_TYPES.map((t) => `email.${t}`),
  "email.received",
  "email.*",
];

export const WebhookInput = z.object({
  url: z.string().url().max(2000),
  events: z.array(
    z.string().refine((e) => WEBHOOK_EVENT_TYPES.includes(e), {
      message: `one of ${WEBHOOK_EVENT_TYPES.join(", ")}`,
    }),
  ).max(50).default([]),
  includeRaw: z.boolean().default(false).meta({
    description: "email.received: add the raw RFC 5322 message (base64).",
  }),
}).meta({ id: "WebhookInput" });

export const WebhookUpdate = z.object({
  url: WebhookInput.shape.url.optional(),
  events: WebhookInput.shape.events.unwrap().optional().meta({
    description: "Replaces the list; an empty list means every event.",
  }),
  includeRaw: z.boolean().optional(),
  active: z.boolean().optional().meta({
    description: "false pauses the endpoint: no new events are queued for it until true.",
  }),
}).meta({ id: "WebhookUpdate" });

export const WebhookView = z.object({
  id: z.number().int(),
  url: z.string(),
  events: z.array(z.string()),
  includeRaw: z.boolean(),
  active: z.boolean(),
  previousSecretUntil: z.string().nullable(),
  createdAt: z.string(),
}).meta({ id: "Webhook" });

export const WebhookWithSecret = z.object({
  webhook: WebhookView,
  secret: z.string().meta({ description: "`whsec_…`: shown only now." }),
}).meta({ id: "WebhookWithSecret" });

export const RotateRequest = z.object({
  overlapSeconds: z.number().int().min(0).max(7 * 86_400).default(86_400).meta({
    description: "How long the old secret keeps signing too (second signature).",
  }),
}).meta({ id: "WebhookRotateRequest" });

export const WebhookDeliveryView = z.object({
  id: z.number().int(),
  eventId: z.string(),
  eventType: z.string(),
  state: z.enum(["pending", "delivering", "succeeded", "failed"]),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
}).meta({ id: "WebhookDelivery" });

/**
 * The outbound queue API's contract (`/v1/queue`, `postern queue`): one entry per remote
 * recipient of an accepted message, with its state and the reason of its last failure.
 */
import { z } from "zod";

export const QUEUE_STATES = [
  "queued",
  "sending",
  "sent",
  "deferred",
  "bounced",
  "failed",
  "cancelled",
] as const;

export const QueueEntry = z.object({
  id: z.number().int(),
  state: z.enum(QUEUE_STATES).meta({
    description: "queued: waiting for its first attempt; sending: a transport holds it; " +
      "deferred: a temporary failure, retried with backoff; sent: the next hop took it; " +
      "bounced: refused for good, a DSN went to the sender; failed: refused or expired with no " +
      "DSN possible; cancelled: an administrator or the sender withdrew it.",
  }),
  mailFrom: z.string(),
  recipient: z.string(),
  domain: z.string().meta({ description: "The recipient's domain." }),
  senderAccount: z.string().nullable().meta({ description: "The account that sent it." }),
  messageId: z.string().nullable().meta({ description: "Its Message-ID header field." }),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable().meta({ description: "While queued or deferred." }),
  lastError: z.string().nullable().meta({ description: "The reason of the last failure." }),
  expiresAt: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).meta({ id: "QueueEntry" });
export type QueueEntry = z.infer<typeof QueueEntry>;

export const QueueQuery = z.object({
  state: z.enum(QUEUE_STATES).optional().meta({ param: { name: "state", in: "query" } }),
  recipient: z.string().max(320).optional().meta({
    param: { name: "recipient", in: "query" },
    description: "The recipient address, exactly (case-insensitive).",
  }),
  domain: z.string().max(255).optional().meta({
    param: { name: "domain", in: "query" },
    description: "The recipient domain.",
  }),
  cursor: z.string().regex(/^\d{1,15}$/, "the cursor is a value from `nextCursor`").optional()
    .meta({ param: { name: "cursor", in: "query" } }),
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({
    param: { name: "limit", in: "query" },
  }),
});

export const QueuePage = z.object({
  items: z.array(QueueEntry),
  nextCursor: z.string().nullable().meta({ description: "Newest first; null on the last page." }),
}).meta({ id: "QueuePage" });

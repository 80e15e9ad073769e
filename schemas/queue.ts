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
  id: z.number().int().meta({ description: "The entry's id." }),
  state: z.enum(QUEUE_STATES).meta({
    description: "queued: waiting for its first attempt; sending: a transport holds it; " +
      "deferred: a temporary failure, retried with backoff; sent: the next hop took it; " +
      "bounced: refused for good, a DSN went to the sender; failed: refused or expired with no " +
      "DSN possible; cancelled: an administrator or the sender withdrew it.",
  }),
  mailFrom: z.string().meta({ description: "The envelope sender." }),
  recipient: z.string().meta({ description: "The recipient address." }),
  domain: z.string().meta({ description: "The recipient's domain." }),
  senderAccount: z.string().nullable().meta({ description: "The account that sent it." }),
  messageId: z.string().nullable().meta({ description: "Its Message-ID header field." }),
  attempts: z.number().int().meta({ description: "Delivery attempts so far." }),
  nextAttemptAt: z.string().nullable().meta({ description: "While queued or deferred." }),
  lastError: z.string().nullable().meta({ description: "The reason of the last failure." }),
  expiresAt: z.string().meta({ description: "When it bounces if still not delivered." }),
  createdAt: z.string().meta({ description: "When it was queued (ISO 8601)." }),
  updatedAt: z.string().meta({ description: "Its last change (ISO 8601)." }),
}).meta({ id: "QueueEntry" });
export type QueueEntry = z.infer<typeof QueueEntry>;

export const QueueQuery = z.object({
  state: z.enum(QUEUE_STATES).optional().meta({
    param: { name: "state", in: "query" },
    description: "Only entries in this state.",
  }),
  recipient: z.string().max(320).optional().meta({
    param: { name: "recipient", in: "query" },
    description: "The recipient address, exactly (case-insensitive).",
  }),
  domain: z.string().max(255).optional().meta({
    param: { name: "domain", in: "query" },
    description: "The recipient domain.",
  }),
  cursor: z.string().regex(/^\d{1,15}$/, "the cursor is a value from `nextCursor`").optional()
    .meta({
      param: { name: "cursor", in: "query" },
      description: "`nextCursor` of the last page.",
    }),
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({
    param: { name: "limit", in: "query" },
    description: "Entries per page (1 to 500).",
  }),
});

export const QueuePage = z.object({
  items: z.array(QueueEntry).meta({ description: "The page, newest first." }),
  nextCursor: z.string().nullable().meta({ description: "Newest first; null on the last page." }),
}).meta({ id: "QueuePage" });

/**
 * Inbound mail as a webhook (`email.received`): the mail pipeline writes a `message.created`
 * event for every stored message; for each endpoint that subscribes, new events of its account
 * after the endpoint's cursor that landed in the Inbox or Junk become deliveries carrying the
 * parsed JSON form (and, when asked, the raw message in base64). The cursor moves in the same
 * transaction, so a message is posted once. The raw message is not copied into the delivery: the
 * row names its blob, whose bytes the dispatcher adds when it posts (webhook_dispatcher.ts).
 */
import { parsedOfRow } from "../crypt/sealed_rows.ts";
import { and, asc, eq, gt } from "drizzle-orm";
import type { ReceivedEventData } from "../../schemas/tx_webhooks.ts";
import type { Deps } from "../deps.ts";
import { recordStatements, schema } from "../store/store.ts";
import { enqueueWebhookEvent, wants } from "./webhooks.ts";
import { inList } from "../store/in_list.ts";

/** Turns new inbound messages into deliveries; resolves to how many were queued. */
export async function pollInbound(deps: Deps, limit = 100): Promise<number> {
  const hooks = (await deps.store.db.select().from(schema.txWebhooks)
    // An endpoint with no events listed wants every event, `email.received` included
    // (schemas/tx_webhooks.ts: "none means all").
    .where(eq(schema.txWebhooks.active, true))).filter((h) => wants(h, "email.received"));
  let queued = 0;
  for (const hook of hooks) {
    const events = await deps.store.db.select().from(schema.events).where(and(
      eq(schema.events.accountId, hook.accountId),
      gt(schema.events.id, hook.inboundCursor),
      eq(schema.events.type, "message.created"),
    )).orderBy(asc(schema.events.id)).limit(limit);
    if (events.length === 0) continue;
    const ids = events.flatMap((e) => (e.messageId ? [e.messageId] : []));
    const rows = ids.length
      ? await deps.store.db.select({ message: schema.messages, role: schema.mailboxes.role })
        .from(schema.messages)
        .innerJoin(schema.mailboxes, eq(schema.mailboxes.id, schema.messages.mailboxId))
        .where(inList(schema.messages.id, ids))
      : [];
    const payloads: { data: ReceivedEventData; rawSha256: string }[] = [];
    for (const { message, role } of rows) {
      if (role !== "inbox" && role !== "junk") continue;
      // deno-lint-ignore no-explicit-any -- the stored JSON, as JSON.parse gave it before
      const parsed = await parsedOfRow<any>(
        deps.store.db,
        message.accountId,
        message.parsed,
      );
      const data: ReceivedEventData = {
        id: message.id,
        mailbox: role,
        messageId: message.messageIdHeader,
        from: parsed.from ?? null,
        to: parsed.to ?? [],
        cc: parsed.cc ?? [],
        subject: parsed.subject ?? "",
        date: new Date(message.sentAt).toISOString(),
        text: parsed.text ?? null,
        html: parsed.html ?? null,
        headers: parsed.headers ?? [],
        attachments: parsed.attachments ?? [],
        authentication: parsed.authentication ?? null,
        size: message.size,
      };
      payloads.push({ data, rawSha256: message.blobSha256 });
    }
    const cursor = events[events.length - 1].id;
    // The deliveries and the cursor in one write job (one round trip).
    const steps = await recordStatements(async (tx) => {
      for (const { data, rawSha256 } of payloads) {
        queued += await enqueueWebhookEvent(
          tx,
          deps,
          hook.accountId,
          "email.received",
          data,
          deps.clock.now(),
          [hook],
          rawSha256,
        );
      }
      await tx.update(schema.txWebhooks).set({ inboundCursor: cursor })
        .where(eq(schema.txWebhooks.id, hook.id));
    });
    await deps.store.batch(steps);
  }
  return queued;
}

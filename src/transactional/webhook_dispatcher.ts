/**
 * Sends due webhook deliveries. Rows are leased by one statement (like the outbox), so
 * several gateway processes may dispatch at once without posting an event twice at the same
 * moment. A 2xx answer finishes a row; anything else (status, network error, timeout, a target
 * that resolves to a private address) schedules a retry after 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h, 14 h, 20 h and 20 h — about three days — then marks it `failed`. Every post goes
 * through the SSRF guard (src/http/net_guard.ts), so the address connected to is checked after
 * DNS, not only the URL kept at creation; redirects are not followed (one could point anywhere),
 * and only the status code of an answer is recorded, never its body.
 */
import { openEventPayload } from "../crypt/sealed_rows.ts";
import { and, eq, inArray, isNull, lt, lte, or } from "drizzle-orm";
import type { Deps } from "../deps.ts";
import type { InValue } from "@libsql/client/web";
import { schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import { guardedFetch, RefusedTarget, webhookPolicy } from "../http/net_guard.ts";
import { signingSecrets, signWebhook, type WebhookDeliveryRow } from "./webhooks.ts";
import { BLOB_UNUSED, blobBytes } from "../services/blob_chunks.ts";
import { toBase64 } from "../crypto.ts";

const S = 1000, M = 60 * S, H = 60 * M;
/** Wait before attempt n+1 after n failed attempts. */
export const RETRY_SCHEDULE_MS = [
  5 * S,
  5 * M,
  30 * M,
  2 * H,
  5 * H,
  10 * H,
  14 * H,
  20 * H,
  20 * H,
];

const deliveriesSql = tableSql(schema.txWebhookDeliveries);

export interface DispatchOptions {
  limit?: number;
  leaseMs?: number;
  timeoutMs?: number;
}

function due(now: number) {
  return or(
    and(
      eq(schema.txWebhookDeliveries.state, "pending"),
      lte(schema.txWebhookDeliveries.nextAttemptAt, now),
    ),
    and(
      eq(schema.txWebhookDeliveries.state, "delivering"),
      or(
        isNull(schema.txWebhookDeliveries.leaseUntil),
        lt(schema.txWebhookDeliveries.leaseUntil, now),
      ),
    ),
  );
}

/** Posts what is due; resolves to the number of deliveries attempted. */
export async function dispatchWebhooks(deps: Deps, opts: DispatchOptions = {}): Promise<number> {
  const now = deps.clock.now();
  const leaseUntil = now + (opts.leaseMs ?? 60_000);
  // One statement, one round trip: the due rows are chosen and leased by the same UPDATE.
  const { db } = deps.store;
  const dueIds = db.select({ id: schema.txWebhookDeliveries.id })
    .from(schema.txWebhookDeliveries).where(due(now))
    .orderBy(schema.txWebhookDeliveries.nextAttemptAt).limit(opts.limit ?? 50);
  const lease = db.update(schema.txWebhookDeliveries)
    .set({ state: "delivering", leaseUntil, updatedAt: now })
    .where(and(inArray(schema.txWebhookDeliveries.id, dueIds), due(now))).toSQL();
  const [leased] = await deps.store.batch([{
    sql: `${lease.sql} RETURNING ${deliveriesSql.columns}`,
    args: lease.params as InValue[],
  }]);
  const rows = leased.rows.map((r) =>
    deliveriesSql.fromRow(r as unknown as Record<string, unknown>)
  );
  await Promise.all(rows.map((row) => attempt(deps, row, opts)));
  return rows.length;
}

/**
 * The body to post: the stored payload, with the raw message (base64) added as `data.raw` when
 * the row names its blob. Built the same way at every attempt, so a retry posts the same bytes
 * under the same `webhook-id`. A message deleted before its event was queued has no raw copy
 * left to send: the event goes without it.
 */
async function bodyOf(deps: Deps, row: WebhookDeliveryRow): Promise<string> {
  const payload = await openEventPayload(deps.store.db, row.eventId, row.payload);
  if (!row.rawSha256) return payload;
  const [blob] = await deps.store.db.select().from(schema.blobs)
    .where(eq(schema.blobs.sha256, row.rawSha256));
  if (!blob) {
    deps.logger.log("warn", "webhook.raw_missing", { id: row.id, sha256: row.rawSha256 });
    return payload;
  }
  const event = JSON.parse(payload) as { data: Record<string, unknown> };
  event.data.raw = toBase64(await blobBytes(deps.store.db, blob));
  return JSON.stringify(event);
}

async function attempt(deps: Deps, row: WebhookDeliveryRow, opts: DispatchOptions) {
  const [hook] = await deps.store.db.select().from(schema.txWebhooks)
    .where(eq(schema.txWebhooks.id, row.webhookId));
  let status: number | null = null;
  let error: string | null = null;
  if (!hook || !hook.active) {
    error = "the endpoint was removed or disabled";
  } else {
    const sentAt = deps.clock.now();
    const timestamp = Math.floor(sentAt / 1000);
    const body = await bodyOf(deps, row);
    const signatures = await Promise.all(
      (await signingSecrets(deps, hook, sentAt)).map((s) =>
        signWebhook(s, row.eventId, timestamp, body)
      ),
    );
    try {
      const request = new Request(hook.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "Postern-Webhooks/1",
          "webhook-id": row.eventId,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signatures.join(" "),
        },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
      });
      const res = await guardedFetch(deps, deps.outbound, request, webhookPolicy(deps));
      status = res.status;
      await res.body?.cancel();
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      const message = (e as Error).message.slice(0, 300) || "request failed";
      error = e instanceof RefusedTarget ? `refused: ${message}` : message;
    }
  }
  const now = deps.clock.now();
  const attempts = row.attempts + 1;
  const wait = RETRY_SCHEDULE_MS[attempts - 1];
  const state = !error ? "succeeded" : !hook || wait === undefined ? "failed" : "pending";
  const update = deps.store.db.update(schema.txWebhookDeliveries).set({
    state,
    attempts,
    nextAttemptAt: state === "pending" ? now + wait : row.nextAttemptAt,
    leaseUntil: null,
    lastStatus: status,
    lastError: error,
    updatedAt: now,
  }).where(and(
    eq(schema.txWebhookDeliveries.id, row.id),
    eq(schema.txWebhookDeliveries.state, "delivering"),
  )).toSQL();
  // One write job: the outcome, and the raw copy's blob once nothing else needs it (its
  // message was deleted while the event waited).
  await deps.store.batch([
    { sql: update.sql, args: update.params as InValue[] },
    ...(row.rawSha256 && state !== "pending"
      ? [{ sql: `DELETE FROM blobs WHERE sha256 = ? AND ${BLOB_UNUSED}`, args: [row.rawSha256] }]
      : []),
  ]);
  deps.logger.log(error ? "warn" : "info", "webhook.attempt", {
    id: row.id,
    webhookId: row.webhookId,
    type: row.eventType,
    attempts,
    status,
    state,
    error: error ?? undefined,
  });
}

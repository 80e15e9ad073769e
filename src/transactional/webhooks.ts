/**
 * Webhook endpoints and their events, signed the Standard Webhooks way: headers `webhook-id`,
 * `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
 * "id.timestamp.body">`, several space-separated while a rotated secret overlaps). Secrets are
 * `whsec_<base64>`, shown at creation and rotation, stored sealed with the master key.
 * Events become `tx_webhook_deliveries` rows in the transaction that made them; the dispatcher
 * (webhook_dispatcher.ts) sends them.
 */
import { sealEventPayload } from "../crypt/sealed_rows.ts";
import { and, desc, eq, lt } from "drizzle-orm";
import type {
  EmailEventData,
  ReceivedEventData,
  WebhookEventType,
} from "../../schemas/tx_webhooks.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { randomToken, toBase64 } from "../crypto.ts";
import type { Queryable, Tx } from "../store/store.ts";
import { localCache, rawSql, schema } from "../store/store.ts";
import { remember, scopeOf } from "../store/read_scope.ts";
import { refuseUrl, webhookPolicy } from "../http/net_guard.ts";
import { tableSql } from "../store/table_sql.ts";
import { insertInSlices } from "../store/appends.ts";
import { blobUnused } from "../services/blob_chunks.ts";

export type WebhookRow = typeof schema.txWebhooks.$inferSelect;
export type WebhookDeliveryRow = typeof schema.txWebhookDeliveries.$inferSelect;

const encoder = new TextEncoder();

export function newWebhookSecret(): string {
  return `whsec_${toBase64(crypto.getRandomValues(new Uint8Array(24)))}`;
}

/** `v1,<base64 HMAC-SHA256>` of `id.timestamp.body` under a `whsec_` secret. */
export async function signWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const keyBytes = Uint8Array.from(atob(secret.replace(/^whsec_/, "")), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

export interface WebhookView {
  id: number;
  url: string;
  events: string[];
  includeRaw: boolean;
  active: boolean;
  previousSecretUntil: string | null;
  createdAt: string;
}

export function webhookView(row: WebhookRow): WebhookView {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events),
    includeRaw: row.includeRaw,
    active: row.active,
    previousSecretUntil: row.previousUntil ? new Date(row.previousUntil).toISOString() : null,
    createdAt: new Date(row.createdAt).toISOString(),
  };
}

export interface NewWebhook {
  url: string;
  events: string[];
  includeRaw: boolean;
}

export async function createWebhook(
  deps: Deps,
  accountId: number,
  input: NewWebhook,
): Promise<{ webhook: WebhookView; secret: string }> {
  const problem = refuseUrl(input.url, webhookPolicy(deps));
  if (problem) {
    throw new AppError(422, "validation_failed", problem, [{ path: "url", message: problem }]);
  }
  const secret = newWebhookSecret();
  const now = deps.clock.now();
  // Inbound mail starts from now: earlier messages are not replayed to a new endpoint.
  const [last] = await deps.store.db.select({ id: schema.events.id }).from(schema.events)
    .where(eq(schema.events.accountId, accountId)).orderBy(desc(schema.events.id)).limit(1);
  const [row] = await deps.store.db.insert(schema.txWebhooks).values({
    accountId,
    url: input.url,
    events: JSON.stringify([...new Set(input.events)]),
    secret: await deps.secrets.seal(secret),
    includeRaw: input.includeRaw,
    inboundCursor: last?.id ?? 0,
    createdAt: now,
  }).returning();
  return { webhook: webhookView(row), secret };
}

export async function listWebhooks(db: Queryable, accountId: number): Promise<WebhookRow[]> {
  return await db.select().from(schema.txWebhooks).where(eq(schema.txWebhooks.accountId, accountId))
    .orderBy(schema.txWebhooks.id);
}

export async function getWebhook(db: Queryable, accountId: number, id: number) {
  const [row] = await db.select().from(schema.txWebhooks).where(and(
    eq(schema.txWebhooks.id, id),
    eq(schema.txWebhooks.accountId, accountId),
  ));
  if (!row) throw notFound("webhook");
  return row;
}

export async function deleteWebhook(deps: Deps, accountId: number, id: number): Promise<void> {
  await getWebhook(deps.store.db, accountId, id);
  await deps.store.batch([
    // Raw copies only its undelivered events still kept (a message deleted meanwhile) go too.
    {
      sql: `DELETE FROM blobs WHERE sha256 IN (SELECT raw_sha256 FROM tx_webhook_deliveries
          WHERE webhook_id = ?1 AND raw_sha256 IS NOT NULL)
        AND ${blobUnused({ deliveries: "AND webhook_id <> ?1" })}`,
      args: [id],
    },
    { sql: "DELETE FROM tx_webhook_deliveries WHERE webhook_id = ?", args: [id] },
    { sql: "DELETE FROM tx_webhooks WHERE id = ?", args: [id] },
  ]);
}

export interface WebhookUpdate {
  url?: string;
  events?: string[];
  includeRaw?: boolean;
  active?: boolean;
}

/**
 * Changes an endpoint in place: its URL (checked as at creation), its events, whether it gets
 * the raw message, and whether it is active (a paused endpoint is sent no new events). The
 * secret and the delivery log stay.
 */
export async function updateWebhook(
  deps: Deps,
  accountId: number,
  id: number,
  input: WebhookUpdate,
): Promise<WebhookView> {
  await getWebhook(deps.store.db, accountId, id);
  if (input.url !== undefined) {
    const problem = refuseUrl(input.url, webhookPolicy(deps));
    if (problem) {
      throw new AppError(422, "validation_failed", problem, [{ path: "url", message: problem }]);
    }
  }
  const set: Partial<typeof schema.txWebhooks.$inferInsert> = {};
  if (input.url !== undefined) set.url = input.url;
  if (input.events !== undefined) set.events = JSON.stringify([...new Set(input.events)]);
  if (input.includeRaw !== undefined) set.includeRaw = input.includeRaw;
  if (input.active !== undefined) set.active = input.active;
  if (Object.keys(set).length === 0) {
    throw new AppError(422, "validation_failed", "nothing to change", [
      { path: "", message: "give at least one of url, events, includeRaw, active" },
    ]);
  }
  const [row] = await deps.store.db.update(schema.txWebhooks).set(set).where(and(
    eq(schema.txWebhooks.id, id),
    eq(schema.txWebhooks.accountId, accountId),
  )).returning();
  if (!row) throw notFound("webhook");
  return webhookView(row);
}

/** The event type of a test delivery: sent to the one endpoint asked, whatever it subscribes to. */
export const WEBHOOK_TEST_EVENT = "webhook.test";

/**
 * Queues a signed `webhook.test` event for one endpoint (paused or not subscribed to anything
 * in particular, it still gets it), so its owner can check the URL and the signature check;
 * it shows in the delivery log like any delivery.
 */
export async function sendTestEvent(
  deps: Deps,
  accountId: number,
  id: number,
): Promise<WebhookDeliveryRow> {
  const hook = await getWebhook(deps.store.db, accountId, id);
  const now = deps.clock.now();
  const eventId = `msg_${randomToken(18)}`;
  const payload = JSON.stringify({
    type: WEBHOOK_TEST_EVENT,
    timestamp: new Date(now).toISOString(),
    data: { webhookId: hook.id, url: hook.url, message: "A test event from Postern." },
  });
  const [row] = await deps.store.db.insert(schema.txWebhookDeliveries).values({
    webhookId: hook.id,
    eventId,
    eventType: WEBHOOK_TEST_EVENT,
    payload,
    state: "pending",
    nextAttemptAt: now,
    createdAt: now,
    updatedAt: now,
  }).returning();
  return row;
}

/** A new secret; the old one keeps signing (as a second signature) for `overlapSeconds`. */
export async function rotateWebhookSecret(
  deps: Deps,
  accountId: number,
  id: number,
  overlapSeconds: number,
): Promise<{ webhook: WebhookView; secret: string }> {
  const row = await getWebhook(deps.store.db, accountId, id);
  const secret = newWebhookSecret();
  const [updated] = await deps.store.db.update(schema.txWebhooks).set({
    secret: await deps.secrets.seal(secret),
    previousSecret: overlapSeconds > 0 ? row.secret : null,
    previousUntil: overlapSeconds > 0 ? deps.clock.now() + overlapSeconds * 1000 : null,
  }).where(eq(schema.txWebhooks.id, id)).returning();
  return { webhook: webhookView(updated), secret };
}

/** The secrets that sign now: the current one, and a rotated one still in its overlap. */
export async function signingSecrets(deps: Deps, row: WebhookRow, now: number): Promise<string[]> {
  const out = [await deps.secrets.open(row.secret)];
  if (row.previousSecret && row.previousUntil && row.previousUntil > now) {
    out.push(await deps.secrets.open(row.previousSecret));
  }
  return out;
}

export function wants(row: WebhookRow, type: string): boolean {
  const events = JSON.parse(row.events) as string[];
  return events.length === 0 || events.includes(type) ||
    events.includes(`${type.split(".")[0]}.*`);
}

/**
 * `wants` in SQL, over an endpoint row named `h`, for write jobs that pick their endpoints when
 * they run (one round trip, no read before): `type` and `wildcard` are where the statement binds
 * the event type and its `email.*` (`wantsArgs`), plain `?` by default.
 */
export const wantsSql = (type = "?", wildcard = "?") =>
  `(json_array_length(h.events) = 0
  OR EXISTS (SELECT 1 FROM json_each(h.events) WHERE value IN (${type}, ${wildcard})))`;

/** The two parameters `wantsSql` binds. */
export const wantsArgs = (type: string): string[] => [type, `${type.split(".")[0]}.*`];

/** One delivery per active endpoint of the account that subscribes to `type`. */
const webhooksSql = tableSql(schema.txWebhooks);

/**
 * What of the active endpoints a send's events depend on, as one value: a request with optimistic
 * reads (store/read_scope.ts) has its write job compare it with the rows then. (The inbound
 * cursor, which moves with every received message, is not part of it.)
 */
const ENDPOINTS_FINGERPRINT = `(SELECT json_group_array(json_array(id, url, events, secret,
  previous_secret, previous_until, include_raw)) FROM (SELECT * FROM tx_webhooks
  WHERE account_id = ? AND active = 1 ORDER BY id))`;

/** The account's active endpoints (read for every event: plain SQL). */
export async function activeWebhooks(db: Queryable, accountId: number): Promise<WebhookRow[]> {
  const rowsSql =
    `SELECT ${webhooksSql.columns} FROM tx_webhooks WHERE account_id = ? AND active = 1`;
  const scope = scopeOf(db);
  if (!scope) {
    const read = async () =>
      (await rawSql(db).all<Record<string, unknown>>(rowsSql, [accountId])).map(
        webhooksSql.fromRow,
      );
    // The embedded file: remembered until a write to the table (store/read_cache.ts `local`).
    const local = localCache(db);
    return local ? await local.get(`webhooks ${accountId}`, read) as WebhookRow[] : await read();
  }
  const found = await remember(db, `webhooks ${accountId}`, async () => {
    const [rows, print] = await scope.base.readBatch([
      { sql: rowsSql, args: [accountId] },
      { sql: `SELECT ${ENDPOINTS_FINGERPRINT} AS print`, args: [accountId] },
    ]);
    return {
      rows: (rows.rows as unknown as Record<string, unknown>[]).map(webhooksSql.fromRow),
      print: String(print.rows[0].print),
    };
  }, (value) => ({ condition: `${ENDPOINTS_FINGERPRINT} = ?`, args: [accountId, value.print] }));
  return found.rows;
}

type WebhookEventData = EmailEventData | ReceivedEventData;

export async function enqueueWebhookEvent(
  tx: Tx,
  deps: Deps,
  accountId: number,
  type: WebhookEventType,
  /**
   * The event's data (schemas/tx_webhooks.ts: the schema the OpenAPI `webhooks` section shows),
   * or a function that builds it (called only when an endpoint wants it).
   */
  data: WebhookEventData | (() => WebhookEventData),
  at: number,
  only?: WebhookRow[],
  /** The blob whose bytes the endpoints that want the raw message get as `data.raw`. */
  rawSha256?: string,
): Promise<number> {
  const hooks = only ?? await activeWebhooks(tx, accountId);
  const targets = hooks.filter((h) => wants(h, type));
  if (targets.length === 0) return 0;
  const eventId = `msg_${randomToken(18)}`;
  // Sealed at rest (crypt/sealed_rows.ts): an email.received event holds the message's text.
  const payload = await sealEventPayload(
    deps.store,
    accountId,
    eventId,
    JSON.stringify({
      type,
      timestamp: new Date(at).toISOString(),
      data: typeof data === "function" ? data() : data,
    }),
  );
  const rows = targets.map((h) => ({
    webhookId: h.id,
    eventId,
    eventType: type,
    payload,
    state: "pending" as const,
    nextAttemptAt: at,
    createdAt: at,
    updatedAt: at,
    // Posted with the event (webhook_dispatcher.ts), not copied into it.
    rawSha256: h.includeRaw ? rawSha256 ?? null : null,
  }));
  // Any number of webhooks, within D1's 100 parameters a statement (store/appends.ts).
  await insertInSlices(rows, (slice) => tx.insert(schema.txWebhookDeliveries).values(slice));
  return targets.length;
}

export async function listDeliveries(
  db: Queryable,
  webhookId: number,
  opts: { beforeId?: number; limit: number },
): Promise<WebhookDeliveryRow[]> {
  const where = [eq(schema.txWebhookDeliveries.webhookId, webhookId)];
  if (opts.beforeId) where.push(lt(schema.txWebhookDeliveries.id, opts.beforeId));
  return await db.select().from(schema.txWebhookDeliveries).where(and(...where))
    .orderBy(desc(schema.txWebhookDeliveries.id)).limit(opts.limit);
}

/** Manual replay: the delivery goes out again at once (same `webhook-id`, fresh attempts). */
export async function replayDelivery(
  deps: Deps,
  accountId: number,
  webhookId: number,
  deliveryId: number,
): Promise<WebhookDeliveryRow> {
  await getWebhook(deps.store.db, accountId, webhookId);
  const now = deps.clock.now();
  const [row] = await deps.store.db.update(schema.txWebhookDeliveries).set({
    state: "pending",
    attempts: 0,
    nextAttemptAt: now,
    leaseUntil: null,
    updatedAt: now,
  }).where(and(
    eq(schema.txWebhookDeliveries.id, deliveryId),
    eq(schema.txWebhookDeliveries.webhookId, webhookId),
  )).returning();
  if (!row) throw notFound("webhook delivery");
  return row;
}

/**
 * Webhook endpoints (Standard Webhooks): create (the `whsec_` secret is shown once), list,
 * update (URL, events, raw copy, pause), delete, rotate the secret with an overlap, a test
 * event, the delivery log, and manual replay.
 */
import { openEventPayload } from "../crypt/sealed_rows.ts";
import { createRoute, z } from "@hono/zod-openapi";
import {
  RotateRequest,
  WebhookDeliveryView,
  WebhookInput,
  WebhookUpdate,
  WebhookView,
  WebhookWithSecret,
} from "../../schemas/tx_webhooks.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  replayDelivery,
  rotateWebhookSecret,
  sendTestEvent,
  updateWebhook,
  type WebhookDeliveryRow,
  webhookView,
} from "../transactional/webhooks.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const deliveryView = async (deps: Deps, r: WebhookDeliveryRow) => ({
  id: r.id,
  eventId: r.eventId,
  eventType: r.eventType,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.state === "pending" ? iso(r.nextAttemptAt) : null,
  lastStatus: r.lastStatus,
  lastError: r.lastError,
  payload: JSON.parse(await openEventPayload(deps.store.db, r.eventId, r.payload)),
  createdAt: iso(r.createdAt),
});

const IdParam = z.object({
  id: z.coerce.number().int().positive().meta({
    param: { name: "id", in: "path" },
    description: "The endpoint's id.",
  }),
});

export function txWebhookRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/webhooks", requireAuth(deps));
  app.use("/webhooks/*", requireAuth(deps));
  const tags = ["webhooks"];

  app.openapi(
    createRoute({
      method: "post",
      path: "/webhooks",
      operationId: "createWebhook",
      tags,
      summary: "Add an endpoint; the signing secret is shown once",
      description:
        "Only public addresses: a URL whose host is a loopback, private, link-local or other " +
        "non-public address in any spelling (IPv4-mapped IPv6 included), or an internal name, " +
        "is refused with 422 unless POSTERN_WEBHOOK_ALLOW_PRIVATE. Names are checked again at " +
        "each post on every address they resolve to, and the post goes to the checked address; " +
        "redirects are not followed, and only the status code of an answer is recorded.",
      security: bearer,
      request: { body: json(WebhookInput) },
      responses: { 201: ok("Created", WebhookWithSecret), ...problems(400, 401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      return c.json(await createWebhook(deps, auth.accountId, c.req.valid("json")), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/webhooks",
      operationId: "listWebhooks",
      tags,
      summary: "The account's endpoints",
      description:
        "The account's webhook endpoints with the events they subscribe to; the signing secrets " +
        "are never shown again.",
      security: bearer,
      responses: {
        200: ok(
          "Endpoints",
          z.object({ webhooks: z.array(WebhookView).meta({ description: "Every endpoint." }) }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const rows = await listWebhooks(deps.store.db, auth.accountId);
      return c.json({ webhooks: rows.map(webhookView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/webhooks/{id}",
      operationId: "updateWebhook",
      tags,
      summary: "Change an endpoint's URL, events, raw copy or active state",
      description: "The URL is checked as at creation. The secret and the delivery log stay.",
      security: bearer,
      request: { params: IdParam, body: json(WebhookUpdate) },
      responses: { 200: ok("Updated", WebhookView), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      return c.json(
        await updateWebhook(deps, auth.accountId, c.req.valid("param").id, c.req.valid("json")),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/webhooks/{id}/test",
      operationId: "sendWebhookTestEvent",
      tags,
      summary: "Queue a signed webhook.test event for this endpoint",
      description: "Sent at once by the dispatcher, whatever events the endpoint subscribes to; " +
        "it appears in the delivery log.",
      security: bearer,
      request: { params: IdParam },
      responses: { 202: ok("Queued", WebhookDeliveryView), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const row = await sendTestEvent(deps, auth.accountId, c.req.valid("param").id);
      return c.json(await deliveryView(deps, row), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/webhooks/{id}",
      operationId: "deleteWebhook",
      tags,
      summary: "Remove an endpoint and its delivery log",
      description:
        "Removes an endpoint and its delivery log; pending deliveries to it are dropped.",
      security: bearer,
      request: { params: IdParam },
      responses: { 204: { description: "Removed" }, ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      await deleteWebhook(deps, auth.accountId, c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/webhooks/{id}/rotate",
      operationId: "rotateWebhookSecret",
      tags,
      summary: "Rotate the secret; the old one also signs during the overlap",
      description:
        "Creates a new signing secret (returned once). During the overlap every post carries " +
        "two signatures, one per secret, so receivers can switch without losing events.",
      security: bearer,
      request: { params: IdParam, body: json(RotateRequest) },
      responses: { 200: ok("The new secret", WebhookWithSecret), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const { overlapSeconds } = c.req.valid("json");
      return c.json(
        await rotateWebhookSecret(deps, auth.accountId, c.req.valid("param").id, overlapSeconds),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/webhooks/{id}/deliveries",
      operationId: "listWebhookDeliveries",
      tags,
      summary: "The delivery log, newest first",
      description:
        "Each post to the endpoint: event, state (pending, delivering, succeeded, failed), " +
        "attempts, the next attempt, the last HTTP status or error, and the payload (without " +
        "`data.raw`: the raw message is added from its stored copy when the event is posted). " +
        "Newest first, paged with `before`.",
      security: bearer,
      request: {
        params: IdParam,
        query: z.object({
          before: z.coerce.number().int().positive().optional().meta({
            param: { name: "before", in: "query" },
            description: "Only deliveries with a smaller id (the last id of the previous page).",
          }),
          limit: z.coerce.number().int().min(1).max(500).default(100).meta({
            param: { name: "limit", in: "query" },
            description: "Page size (1 to 500).",
          }),
        }),
      },
      responses: {
        200: ok(
          "Deliveries",
          z.object({
            deliveries: z.array(WebhookDeliveryView).meta({ description: "Newest first." }),
          }),
        ),
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const hook = await getWebhook(deps.store.db, auth.accountId, c.req.valid("param").id);
      const q = c.req.valid("query");
      const rows = await listDeliveries(deps.store.db, hook.id, {
        beforeId: q.before,
        limit: q.limit,
      });
      return c.json({ deliveries: await Promise.all(rows.map((r) => deliveryView(deps, r))) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/webhooks/{id}/deliveries/{deliveryId}/replay",
      operationId: "replayWebhookDelivery",
      tags,
      summary: "Send a delivery again now (same webhook-id)",
      description:
        "Queues a delivery again at once with fresh attempts and the same `webhook-id`, so a " +
        "receiver that deduplicates sees it once.",
      security: bearer,
      request: {
        params: IdParam.extend({
          deliveryId: z.coerce.number().int().positive().meta({
            param: { name: "deliveryId", in: "path" },
            description: "The delivery's id (from the delivery log).",
          }),
        }),
      },
      responses: { 200: ok("Queued again", WebhookDeliveryView), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const p = c.req.valid("param");
      return c.json(
        await deliveryView(deps, await replayDelivery(deps, auth.accountId, p.id, p.deliveryId)),
        200,
      );
    },
  );
  return app;
}

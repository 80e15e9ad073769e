/**
 * Routes the bridge's outbound worker uses (API keys with the `bridge` scope): lease due outbox
 * rows, read their bytes, report per-recipient results, and fetch a domain's DKIM signing keys.
 * The contract and its rules are described in schemas/bridge_outbox.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import {
  DkimSigningKeys,
  OutboxClaimRequest,
  OutboxClaimResponse,
  OutboxRenewRequest,
  OutboxRenewResponse,
  OutboxResultRequest,
  OutboxResultResponse,
} from "../../schemas/bridge_outbox.ts";
import { DomainName } from "../../schemas/address.ts";
import { requireScope } from "../auth/auth_context.ts";
import { authenticate, withReads } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { type AppEnv, bridgeKey, json, newRouter, ok, problems } from "../http/router.ts";
import { ensureDkimKeys, signingKeys } from "../services/dkim_keys.ts";
import { claimOutbox, readLeasedRaw, recordResult } from "../services/outbox_delivery.ts";
import { renewOutboxLease } from "../services/outbox_lease.ts";

const iso = (ms: number) => new Date(ms).toISOString();

const IdParam = z.object({
  id: z.coerce.number().int().positive().meta({
    param: { name: "id", in: "path" },
    description: "The leased outbox row's id.",
  }),
});
const WorkerQuery = z.object({
  worker: z.string().min(1).max(128).meta({
    param: { name: "worker", in: "query" },
    description: "The worker that holds the lease.",
  }),
});

export function bridgeOutboxRoutes(deps: Deps) {
  const app = newRouter();
  // The bridge routes' own middleware may already have authenticated this request.
  const bridgeOnly = createMiddleware<AppEnv>(async (c, next) => {
    const auth = c.get("auth") ?? await authenticate(deps, c.req.header("authorization"));
    c.set("auth", auth);
    requireScope(auth, "bridge");
    await next();
  });
  app.use("/bridge/outbox/*", bridgeOnly);
  app.use("/bridge/dkim/*", bridgeOnly);

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/outbox/claim",
      operationId: "bridgeClaimOutbox",
      tags: ["bridge"],
      summary: "Lease due outbox recipients to a worker, grouped by destination domain",
      description: "Due rows (queued, or deferred whose retry time has come, or leased by a " +
        "worker whose lease lapsed) are leased in one transaction: two workers never get the " +
        "same recipient. Rows past their expiry are bounced instead. The bytes of each item " +
        "come from `GET /v1/bridge/outbox/{id}/raw`.",
      security: bridgeKey,
      request: { body: json(OutboxClaimRequest) },
      responses: { 200: ok("The leased rows", OutboxClaimResponse), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const claimed = await withReads(c, deps, (deps, auth) => {
        requireScope(auth, "bridge");
        return claimOutbox(deps, body);
      });
      return c.json({
        worker: body.worker,
        leaseUntil: iso(claimed.leaseUntil),
        groups: claimed.groups,
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/bridge/outbox/{id}/raw",
      operationId: "bridgeGetOutboxRaw",
      tags: ["bridge"],
      summary: "The exact RFC 5322 bytes of a leased outbox row",
      description:
        "The exact bytes to send for a leased outbox row, streamed; only the worker holding the " +
        "lease may read them. Needs the `bridge` scope.",
      security: bridgeKey,
      request: { params: IdParam, query: WorkerQuery },
      responses: {
        200: {
          description: "The message",
          content: { "message/rfc822": { schema: z.string().meta({ format: "binary" }) } },
        },
        ...problems(401, 403, 404, 409, 422),
      },
    }),
    async (c) => {
      const raw = await readLeasedRaw(deps, c.req.valid("param").id, c.req.valid("query").worker);
      return c.body(raw as Uint8Array<ArrayBuffer>, 200, {
        "content-type": "message/rfc822",
        "content-length": String(raw.byteLength),
      });
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/outbox/renew",
      operationId: "bridgeRenewOutbox",
      tags: ["bridge"],
      summary: "Extend the lease of claimed recipients the worker is still delivering",
      description: "A worker renews while it works through a claim (about every third of the " +
        "lease), so that a slow delivery never passes to another bridge, which would send it " +
        "again. Answers the ids renewed: rows another worker took over after a lapse, or " +
        "already finished, are left out.",
      security: bridgeKey,
      request: { body: json(OutboxRenewRequest) },
      responses: { 200: ok("The rows renewed", OutboxRenewResponse), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const renewed = await renewOutboxLease(deps, c.req.valid("json"));
      return c.json({ leaseUntil: iso(renewed.leaseUntil), ids: renewed.ids }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/outbox/{id}/result",
      operationId: "bridgeRecordOutboxResult",
      tags: ["bridge"],
      summary: "Record the result of a delivery attempt for one leased recipient",
      description: "`sent` finishes the row. `deferred` (4xx, network, TLS or DNS trouble) " +
        "schedules a retry with exponential backoff and jitter, or bounces once the row has " +
        "expired. `failed` (5xx) bounces at once: an RFC 3464 report goes to the sender's " +
        "Inbox when the sender is served here. 409 when the worker no longer holds the lease.",
      security: bridgeKey,
      request: { params: IdParam, body: json(OutboxResultRequest) },
      responses: {
        200: ok("The row's new state", OutboxResultResponse),
        ...problems(401, 403, 404, 409, 422),
      },
    }),
    async (c) => {
      const result = c.req.valid("json");
      const { row, bounced } = await recordResult(deps, c.req.valid("param").id, result);
      deps.metrics?.messagesOut.inc({ outcome: result.outcome });
      if (row.state === "sent" || row.state === "bounced" || row.state === "failed") {
        deps.metrics?.deliveryLatency.observe((deps.clock.now() - row.createdAt) / 1000, {
          outcome: row.state === "sent" ? "sent" : "bounced",
        });
      }
      return c.json({
        id: row.id,
        state: row.state,
        attempts: row.attempts,
        nextAttemptAt: row.state === "deferred" ? iso(row.nextAttemptAt) : null,
        bounced,
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/bridge/dkim/{domain}",
      operationId: "bridgeGetDkimKeys",
      tags: ["bridge"],
      summary: "The DKIM signing keys of a local domain (private keys: bridge scope only)",
      description: "Generated on first use when the domain has none yet.",
      security: bridgeKey,
      request: {
        params: z.object({
          domain: DomainName.meta({
            param: { name: "domain", in: "path" },
            description: "A local domain.",
          }),
        }),
      },
      responses: { 200: ok("The keys", DkimSigningKeys), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const found = await ensureDkimKeys(
        deps.store,
        deps.secrets,
        c.req.valid("param").domain,
        deps.clock.now(),
      );
      if (!found) throw notFound("local domain");
      return c.json(
        { domain: found.domain, keys: await signingKeys(deps.secrets, found.keys) },
        200,
      );
    },
  );
  return app;
}

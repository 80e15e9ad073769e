/**
 * The outbound queue API (services/queue_admin.ts): list (filter by state, recipient or
 * recipient domain; keyset paging), one entry, retry now, cancel. Server administrators see the
 * whole queue, domain administrators the mail of their domains' accounts; every retry and
 * cancel leaves an audit row.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { QueueEntry, QueuePage, QueueQuery } from "../../schemas/queue.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { adminReach } from "../services/admin_reach.ts";
import { audit } from "../services/audit.ts";
import {
  cancelQueueEntry,
  getQueueEntry,
  listQueue,
  retryQueueEntry,
} from "../services/queue_admin.ts";

const description = "Server administrators see the whole queue; a domain administrator " +
  "(`adminDomains`) the mail sent by accounts of its domains; others get 403 " +
  "`domain_admin_required`. An API key needs the `admin` scope.";

const IdParam = z.object({
  id: z.coerce.number().int().positive().meta({
    param: { name: "id", in: "path" },
    description: "The queue entry's id.",
  }),
});

export function queueRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/queue", requireAuth(deps));
  app.use("/queue/*", requireAuth(deps));
  const tags = ["queue"];

  app.openapi(
    createRoute({
      method: "get",
      path: "/queue",
      operationId: "listQueue",
      tags,
      description,
      summary: "Outbound queue entries (one per remote recipient), newest first",
      security: bearer,
      request: { query: QueueQuery },
      responses: { 200: ok("A page", QueuePage), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const reach = await adminReach(deps.store.db, c.get("auth"));
      return c.json(
        await listQueue(deps.store.db, reach, {
          ...q,
          cursor: q.cursor ? Number(q.cursor) : undefined,
        }),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/queue/{id}",
      operationId: "getQueueEntry",
      tags,
      description,
      summary: "One queue entry with the reason of its last failure",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("The entry", QueueEntry), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      return c.json(await getQueueEntry(deps.store.db, reach, c.req.valid("param").id), 200);
    },
  );

  const act = (verb: "retry" | "cancel") =>
    createRoute({
      method: "post",
      path: `/queue/{id}/${verb}`,
      operationId: verb === "retry" ? "retryQueueEntry" : "cancelQueueEntry",
      tags,
      description: description + (verb === "retry"
        ? " Makes a queued or deferred entry due now; its attempts and expiry stay."
        : " Withdraws a queued or deferred entry for good (a transactional message's " +
          "recipient gets a `cancelled` event).") +
        " 409 when a transport holds the entry now or it has finished.",
      summary: verb === "retry" ? "Retry now" : "Cancel",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("The entry", QueueEntry), ...problems(401, 403, 404, 409, 422) },
    });

  for (const verb of ["retry", "cancel"] as const) {
    app.openapi(act(verb), async (c) => {
      const auth = c.get("auth");
      const reach = await adminReach(deps.store.db, auth);
      const id = c.req.valid("param").id;
      const entry = verb === "retry"
        ? await retryQueueEntry(deps, reach, id)
        : await cancelQueueEntry(deps, reach, id, auth.address);
      await audit(deps.store.db, {
        actorAccountId: auth.accountId,
        action: `queue.${verb}`,
        target: `queue:${id}`,
        data: { recipient: entry.recipient },
        ip: c.get("clientIp"),
      });
      return c.json(entry, 200);
    });
  }
  return app;
}

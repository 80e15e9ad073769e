/**
 * `GET /v1/events`: a Server-Sent Events stream of the account's mailbox changes. Resumable with
 * `Last-Event-ID` (or `?since=`); woken at once by changes in this process and polling every
 * couple of seconds for changes made by other processes; a comment heartbeat keeps proxies open.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, problems } from "../http/router.ts";
import { Waker } from "../http/waker.ts";
import { eventsAfter, latestEventId } from "../services/events.ts";

const POLL_MS = 2_000;
const HEARTBEAT_MS = 20_000;

export function eventRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/events", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/events",
      tags: ["events"],
      summary: "Stream mailbox changes (Server-Sent Events)",
      description: "Each event has `id`, `event` (e.g. message.created, message.updated, " +
        "message.deleted, message.moved, mailbox.created) and JSON `data`. Send `Last-Event-ID` " +
        "or `since` to resume; without either the stream starts with new changes only.",
      security: bearer,
      request: {
        query: z.object({
          since: z.coerce.number().int().min(0).optional().meta({
            description: "Resume after this event id.",
          }),
        }),
      },
      responses: {
        200: {
          description: "An event stream",
          content: { "text/event-stream": { schema: z.string() } },
        },
        ...problems(401, 403, 422),
      },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { since } = c.req.valid("query");
      const header = Number(c.req.header("last-event-id"));
      let cursor = since ??
        (Number.isSafeInteger(header) && header > 0
          ? header
          : await latestEventId(deps.store.db, auth.accountId));
      return streamSSE(c, async (stream) => {
        const waker = new Waker();
        const unsubscribe = deps.bus.subscribe(auth.accountId, () => waker.wake());
        let closed = false;
        stream.onAbort(() => {
          closed = true;
          waker.wake();
        });
        let lastWrite = Date.now();
        try {
          await stream.writeSSE({
            event: "ready",
            data: JSON.stringify({ since: cursor }),
            id: String(cursor),
          });
          while (!closed) {
            const batch = await eventsAfter(deps.store.db, auth.accountId, cursor);
            for (const event of batch) {
              await stream.writeSSE({
                id: String(event.id),
                event: event.type,
                data: JSON.stringify(event),
              });
              cursor = event.id;
              lastWrite = Date.now();
            }
            if (batch.length > 0) continue;
            if (Date.now() - lastWrite >= HEARTBEAT_MS) {
              await stream.write(": keep-alive\n\n");
              lastWrite = Date.now();
            }
            await waker.sleep(POLL_MS);
          }
        } finally {
          unsubscribe();
        }
      });
    }) as never,
  );
  return app;
}

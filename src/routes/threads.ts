/**
 * Thread routes: the account's conversations newest first (cursor-paged) and one conversation
 * with its messages oldest first. Another account's thread id is 404.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ThreadDetail, ThreadPage } from "../../schemas/api_mail.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { getThread, listThreads } from "../services/threads.ts";
import { IdParam } from "./mailboxes.ts";
import { PageQuery } from "./messages.ts";

export function threadRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/threads/*", requireAuth(deps));
  const tags = ["threads"];

  app.openapi(
    createRoute({
      method: "get",
      path: "/threads",
      operationId: "listThreads",
      tags,
      summary: "Conversations, most recently active first",
      description:
        "Conversations (messages linked by Message-ID, In-Reply-To and References), most " +
        "recently active first, a page at a time.",
      security: bearer,
      request: {
        query: z.object({
          mailboxId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional()
            .meta({ description: "Only threads with a message in this mailbox." }),
          ...PageQuery,
        }),
      },
      responses: { 200: ok("A page of threads", ThreadPage), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await listThreads(deps.store.db, auth.accountId, c.req.valid("query")), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/threads/{id}",
      operationId: "getThread",
      tags,
      summary: "One conversation with its messages, oldest first",
      description: "One conversation with its messages, oldest first.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("The thread", ThreadDetail), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await getThread(deps.store.db, auth.accountId, c.req.valid("param").id), 200);
    },
  );

  return app;
}

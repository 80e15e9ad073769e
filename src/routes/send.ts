/**
 * `POST /v1/emails`: send a message composed from JSON. Local recipients are delivered at once
 * (with a Sent copy); remote recipients enter the outbox as `queued`.
 */
import { createRoute } from "@hono/zod-openapi";
import { SendRequest, SendResponse } from "../../schemas/api_send.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, problems } from "../http/router.ts";
import { sendMessage } from "../services/send.ts";

export function sendRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/emails", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "post",
      path: "/emails",
      tags: ["send"],
      summary: "Send a message",
      description:
        "Builds the MIME message, stores a copy in Sent, delivers to local recipients and " +
        "queues remote ones. Needs the `send` scope. Answers after the durable commit.",
      security: bearer,
      request: {
        body: { content: { "application/json": { schema: SendRequest } }, required: true },
      },
      responses: {
        201: { description: "Accepted", content: { "application/json": { schema: SendResponse } } },
        ...problems(400, 401, 403, 413, 422, 507),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      return c.json(await sendMessage(deps, auth, c.req.valid("json")), 201);
    },
  );
  return app;
}

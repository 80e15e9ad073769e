/**
 * `POST /v1/messages/{id}/view`: a short-lived URL at which the message's HTML body is served as
 * a sandboxed document with its own strict CSP (src/web/mail/frame.ts), for clients that show
 * mail in a browser frame (the webmail). Remote images stay blocked unless `images` is true.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { getMessage } from "../services/messages.ts";
import { hasRemoteImages, signView, VIEW_TTL_SECONDS } from "../web/mail/frame.ts";

const MessageIdParam = z.object({
  id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).meta({
    param: { name: "id", in: "path" },
    description: "The message's id.",
    example: 1,
  }),
});

export const MessageView = z.object({
  url: z.string().nullable().meta({
    description: "Path of the sandboxed HTML document; null when the message has no HTML body.",
  }),
  expiresIn: z.number().int().meta({ description: "Seconds the URL stays valid." }),
  remoteImages: z.boolean().meta({
    description: "The HTML refers to remote images (blocked unless `images` was true).",
  }),
}).meta({ id: "MessageView" });

export function messageViewRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/messages/:id/view", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "post",
      path: "/messages/{id}/view",
      operationId: "createMessageView",
      tags: ["messages"],
      summary: "A sandboxed, short-lived URL of the message's HTML body",
      description: "The document is served with `Content-Security-Policy: sandbox` (no " +
        "scripts), no remote resources except images when `images` is true, no referrer, and " +
        "may be framed only by this site's pages.",
      security: bearer,
      request: {
        params: MessageIdParam,
        query: z.object({
          images: z.enum(["true", "false"]).default("false").meta({
            description: "Allow remote images (`https:`/`http:`) in the document.",
          }),
        }),
      },
      responses: { 200: ok("The view URL", MessageView), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { id } = c.req.valid("param");
      const message = await getMessage(deps.store.db, auth.accountId, id);
      const images = c.req.valid("query").images === "true";
      const url = message.html === null ? null : `/mail/frame/${await signView(deps, {
        accountId: auth.accountId,
        messageId: id,
        images,
      })}`;
      return c.json({
        url,
        expiresIn: VIEW_TTL_SECONDS,
        remoteImages: message.html !== null && hasRemoteImages(message.html),
      }, 200);
    },
  );
  return app;
}

/**
 * Drafts: create, read, replace, delete and send. Drafts are messages in the Drafts mailbox, so
 * `/v1/messages?mailboxId=…` lists them too.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { DraftRequest, SendResponse } from "../../schemas/api_send.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, problems } from "../http/router.ts";
import { createDraft, deleteDraft, getDraft, replaceDraft, sendDraft } from "../services/drafts.ts";

const Draft = z.object({
  id: z.number().int().meta({ description: "The draft's id (a message in Drafts)." }),
  draft: DraftRequest.meta({ description: "The composition as it was saved." }),
  updatedAt: z.string().meta({ description: "When it was saved (ISO 8601)." }),
}).meta({ id: "Draft" });

const IdParam = z.object({
  id: z.coerce.number().int().positive().meta({
    param: { name: "id", in: "path" },
    description: "The draft's id.",
  }),
});
const body = { content: { "application/json": { schema: DraftRequest } }, required: true };
const draftResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: Draft } },
});

export function draftRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/drafts", requireAuth(deps));
  app.use("/drafts/*", requireAuth(deps));

  app.openapi(
    createRoute({
      method: "post",
      path: "/drafts",
      operationId: "createDraft",
      tags: ["drafts"],
      summary: "Save a new draft",
      description: "Saves a composition as a draft in the Drafts mailbox (also visible over IMAP).",
      security: bearer,
      request: { body },
      responses: { 201: draftResponse("Saved"), ...problems(400, 401, 403, 422, 507) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await createDraft(deps, auth, c.req.valid("json")), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/drafts/{id}",
      operationId: "getDraft",
      tags: ["drafts"],
      summary: "Read a draft as the JSON it was saved from",
      description: "A draft as the JSON it was saved from, for editing.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: draftResponse("The draft"), ...problems(401, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await getDraft(deps, auth, c.req.valid("param").id), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/drafts/{id}",
      operationId: "replaceDraft",
      tags: ["drafts"],
      summary: "Replace a draft (it gets a new id)",
      description:
        "Replaces a draft with a new composition; as in IMAP, the new draft is a new message " +
        "with a new id (the old one is removed).",
      security: bearer,
      request: { params: IdParam, body },
      responses: { 200: draftResponse("Replaced"), ...problems(400, 401, 403, 404, 422, 507) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(
        await replaceDraft(deps, auth, c.req.valid("param").id, c.req.valid("json")),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/drafts/{id}",
      operationId: "deleteDraft",
      tags: ["drafts"],
      summary: "Delete a draft",
      description: "Deletes a draft.",
      security: bearer,
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...problems(401, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      await deleteDraft(deps, auth, c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/drafts/{id}/send",
      operationId: "sendDraft",
      tags: ["drafts"],
      summary: "Send a draft and remove it from Drafts",
      description: "Sends a draft as `POST /v1/emails` would and removes it from Drafts.",
      security: bearer,
      request: { params: IdParam },
      responses: {
        201: { description: "Sent", content: { "application/json": { schema: SendResponse } } },
        ...problems(401, 403, 404, 422, 507),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      return c.json(await sendDraft(deps, auth, c.req.valid("param").id), 201);
    },
  );
  return app;
}

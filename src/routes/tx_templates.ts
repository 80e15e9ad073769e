/**
 * Templates: save (each save of a name is a new version), list, read (latest or a version),
 * list versions, delete, and preview with variables (a 422 names every missing variable).
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  PreviewRequest,
  PreviewResponse,
  TemplateInput,
  TemplateName,
  TemplateView,
} from "../../schemas/tx_templates.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  deleteTemplate,
  getTemplate,
  listTemplates,
  listVersions,
  renderTemplate,
  saveTemplate,
  type TemplateRow,
} from "../transactional/templates.ts";

const view = (t: TemplateRow) => ({
  id: t.id,
  name: t.name,
  version: t.version,
  subject: t.subject,
  text: t.text,
  html: t.html,
  createdAt: new Date(t.createdAt).toISOString(),
});

const NameParam = z.object({
  name: TemplateName.meta({
    param: { name: "name", in: "path" },
    description: "The template's name.",
  }),
});
const VersionQuery = z.object({
  version: z.coerce.number().int().positive().optional().meta({
    param: { name: "version", in: "query" },
    description: "A version number; default: the latest.",
  }),
});

export function txTemplateRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/templates", requireAuth(deps));
  app.use("/templates/*", requireAuth(deps));
  const tags = ["templates"];

  app.openapi(
    createRoute({
      method: "post",
      path: "/templates",
      operationId: "saveTemplate",
      tags,
      summary: "Save a template (a new version when the name exists)",
      description:
        "Saves a template under its name; saving a name again adds a new version (older " +
        "versions stay usable by number). Subject, text and HTML use Mustache-style " +
        "`{{variables}}`; HTML escapes them, `{{{triple}}}` does not.",
      security: bearer,
      request: { body: json(TemplateInput) },
      responses: { 201: ok("Saved", TemplateView), ...problems(400, 401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      return c.json(view(await saveTemplate(deps, auth.accountId, c.req.valid("json"))), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/templates",
      operationId: "listTemplates",
      tags,
      summary: "The latest version of each template",
      description: "The latest version of each of the account's templates.",
      security: bearer,
      responses: {
        200: ok(
          "Templates",
          z.object({
            templates: z.array(TemplateView).meta({ description: "The latest version of each." }),
          }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const rows = await listTemplates(deps.store.db, auth.accountId);
      return c.json({ templates: rows.map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/templates/{name}",
      operationId: "getTemplate",
      tags,
      summary: "A template (latest, or `?version=`)",
      description: "A template's latest version, or the version given by `?version=`.",
      security: bearer,
      request: { params: NameParam, query: VersionQuery },
      responses: { 200: ok("The template", TemplateView), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const { name } = c.req.valid("param");
      const row = await getTemplate(
        deps.store.db,
        auth.accountId,
        name,
        c.req.valid("query").version,
      );
      return c.json(view(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/templates/{name}/versions",
      operationId: "listTemplateVersions",
      tags,
      summary: "Every version of a template, newest first",
      description: "Every saved version of a template, newest first.",
      security: bearer,
      request: { params: NameParam },
      responses: {
        200: ok(
          "Versions",
          z.object({
            versions: z.array(TemplateView).meta({ description: "Every version, newest first." }),
          }),
        ),
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const rows = await listVersions(deps.store.db, auth.accountId, c.req.valid("param").name);
      return c.json({ versions: rows.map(view) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/templates/{name}",
      operationId: "deleteTemplate",
      tags,
      summary: "Delete a template and all its versions",
      description:
        "Deletes a template and every version; sends that name it afterwards answer 404.",
      security: bearer,
      request: { params: NameParam },
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      await deleteTemplate(deps, auth.accountId, c.req.valid("param").name);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/templates/{name}/preview",
      operationId: "previewTemplate",
      tags,
      summary: "Render a template with variables, without sending",
      description:
        "Renders a template's subject, text and HTML with the variables given, exactly as a " +
        "send would, without sending anything.",
      security: bearer,
      request: { params: NameParam, body: json(PreviewRequest) },
      responses: { 200: ok("Rendered", PreviewResponse), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const body = c.req.valid("json");
      const t = await getTemplate(
        deps.store.db,
        auth.accountId,
        c.req.valid("param").name,
        body.version,
      );
      const r = renderTemplate(t, body.variables);
      return c.json({ subject: r.subject, text: r.text ?? null, html: r.html ?? null }, 200);
    },
  );
  return app;
}

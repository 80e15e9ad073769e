/**
 * A sending domain's suppression list (list, add, remove) and its settings: open and click
 * tracking defaults and the VERP return path. They are shared by every account of the domain,
 * so each route needs an administrator or an administrator of that domain
 * (transactional/domains.ts); plain users get 403 `domain_admin_required`.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { DomainName } from "../../schemas/address.ts";
import {
  DomainSettings,
  DomainSettingsInput,
  SuppressionInput,
  SuppressionList,
  SuppressionView,
} from "../../schemas/tx_suppression.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  assertDomainAccess,
  domainSettings,
  updateDomainSettings,
} from "../transactional/domains.ts";
import {
  addSuppression,
  listSuppressions,
  removeSuppression,
  type SuppressionRow,
} from "../transactional/suppression.ts";

const view = (r: SuppressionRow) => ({
  id: r.id,
  domain: r.domain,
  address: r.address,
  reason: r.reason,
  detail: r.detail,
  code: r.code,
  stage: r.stage,
  emailId: r.messageId,
  createdAt: new Date(r.createdAt).toISOString(),
});

/** Said on every route here (OpenAPI `description`). */
const description = "Needs the admin role, or the domain administrator role of this domain " +
  "(`adminDomains` of the account; an API key also needs the `admin` scope). Others get 403 " +
  "`domain_admin_required`.";

const DomainParam = z.object({
  domain: DomainName.meta({
    param: { name: "domain", in: "path" },
    description: "A sending domain of yours (a local domain you may send from or administer).",
  }),
});

export function txSuppressionRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/domains/*", requireAuth(deps));
  const tags = ["suppression"];

  app.openapi(
    createRoute({
      method: "get",
      path: "/domains/{domain}/suppressions",
      operationId: "listSuppressions",
      tags,
      description,
      summary: "The domain's suppression list, newest first, each with why it exists",
      security: bearer,
      request: {
        params: DomainParam,
        query: z.object({
          before: z.coerce.number().int().positive().optional().meta({
            param: { name: "before", in: "query" },
            description: "Only entries with a smaller id (`nextBefore` of the previous page).",
          }),
          limit: z.coerce.number().int().min(1).max(500).default(100).meta({
            param: { name: "limit", in: "query" },
            description: "Page size (1 to 500).",
          }),
        }),
      },
      responses: { 200: ok("Suppressions", SuppressionList), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      const domain = await assertDomainAccess(deps.store.db, auth, c.req.valid("param").domain);
      const q = c.req.valid("query");
      const rows = await listSuppressions(deps.store.db, domain, {
        beforeId: q.before,
        limit: q.limit,
      });
      return c.json({
        suppressions: rows.map(view),
        nextBefore: rows.length === q.limit ? rows[rows.length - 1].id : null,
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/domains/{domain}/suppressions",
      operationId: "createSuppression",
      tags,
      description,
      summary: "Suppress an address by hand",
      security: bearer,
      request: { params: DomainParam, body: json(SuppressionInput) },
      responses: { 201: ok("Suppressed", SuppressionView), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      const domain = await assertDomainAccess(deps.store.db, auth, c.req.valid("param").domain);
      const body = c.req.valid("json");
      const row = await addSuppression(deps.store, {
        domain,
        address: body.address,
        reason: "manual",
        detail: body.detail,
        at: deps.clock.now(),
      });
      return c.json(view(row), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/domains/{domain}/suppressions/{address}",
      operationId: "deleteSuppression",
      tags,
      description,
      summary: "Remove an address from the list (mail to it is sent again)",
      security: bearer,
      request: {
        params: DomainParam.extend({
          address: z.string().max(320).meta({
            param: { name: "address", in: "path" },
            description: "The suppressed address.",
          }),
        }),
      },
      responses: { 204: { description: "Removed" }, ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      const params = c.req.valid("param");
      const domain = await assertDomainAccess(deps.store.db, auth, params.domain);
      await removeSuppression(deps.store, domain, params.address);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/domains/{domain}/sending",
      operationId: "getSendingSettings",
      tags,
      description,
      summary: "The domain's sending settings (tracking defaults, VERP)",
      security: bearer,
      request: { params: DomainParam },
      responses: { 200: ok("Settings", DomainSettings), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      const domain = await assertDomainAccess(deps.store.db, auth, c.req.valid("param").domain);
      return c.json(await domainSettings(deps.store.db, domain), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/domains/{domain}/sending",
      operationId: "updateSendingSettings",
      tags,
      description,
      summary: "Change the domain's sending settings",
      security: bearer,
      request: { params: DomainParam, body: json(DomainSettingsInput) },
      responses: { 200: ok("Settings", DomainSettings), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      const domain = await assertDomainAccess(deps.store.db, auth, c.req.valid("param").domain);
      return c.json(await updateDomainSettings(deps, domain, c.req.valid("json")), 200);
    },
  );
  return app;
}

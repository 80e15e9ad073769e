/**
 * Analytics of transactional mail by day, sending domain or tag, as JSON or CSV.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { AnalyticsQuery, AnalyticsResponse } from "../../schemas/tx_analytics.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { analytics, toCsv } from "../transactional/analytics.ts";

export function txAnalyticsRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/analytics", requireAuth(deps));
  app.use("/analytics/*", requireAuth(deps));

  app.openapi(
    createRoute({
      method: "get",
      path: "/analytics",
      operationId: "getAnalytics",
      tags: ["analytics"],
      summary: "Counts and rates of sent mail per day, domain or tag",
      description:
        "Sent, delivered, bounced and complained counts with delivery, bounce, complaint, open " +
        "and click rates, grouped by day, sending domain or tag, optionally limited to a date " +
        "range, a domain or a tag.",
      security: bearer,
      request: { query: AnalyticsQuery },
      responses: { 200: ok("Rows", AnalyticsResponse), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const q = c.req.valid("query");
      return c.json(
        { groupBy: q.groupBy, rows: await analytics(deps.store.db, auth.accountId, q) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/analytics/export",
      operationId: "exportAnalytics",
      tags: ["analytics"],
      summary: "The same rows as CSV (RFC 4180)",
      description:
        "The rows of `GET /v1/analytics` as CSV (RFC 4180) with a header line, for spreadsheets.",
      security: bearer,
      request: { query: AnalyticsQuery },
      responses: {
        200: { description: "CSV", content: { "text/csv": { schema: z.string() } } },
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const q = c.req.valid("query");
      const rows = await analytics(deps.store.db, auth.accountId, q);
      return c.body(toCsv(rows, q.groupBy), 200, {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `attachment; filename="postern-analytics-${q.groupBy}.csv"`,
      });
    },
  );
  return app;
}

/**
 * Statistics for administrators, over the domains they administer (services/admin_reach.ts):
 * sending analytics of every account's transactional mail (the rows of `GET /v1/analytics`,
 * transactional/analytics.ts, which covers one account) and inbound volume and verdicts per day
 * (services/inbound_stats.ts). The admin console draws its charts from these.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { AnalyticsQuery, AnalyticsResponse } from "../../schemas/tx_analytics.ts";
import { InboundDay, InboundQuery } from "../../schemas/stats.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { adminReach, reachIds } from "../services/admin_reach.ts";
import { inboundStats } from "../services/inbound_stats.ts";
import { analytics } from "../transactional/analytics.ts";

const DAY = 86_400_000;
const MAX_DAYS = 366;

const description = "Server administrators see every domain; a domain administrator its own " +
  "domains; others get 403 `domain_admin_required`.";

export function adminStatsRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/stats/*", requireAuth(deps));
  const tags = ["statistics"];

  app.openapi(
    createRoute({
      method: "get",
      path: "/stats/sending",
      operationId: "getSendingStats",
      tags,
      description: description + " Counts every account's transactional mail from those " +
        "domains; `domain` narrows to one.",
      summary: "Sent, delivered, bounced, complained, opened, clicked per day, domain or tag",
      security: bearer,
      request: { query: AnalyticsQuery },
      responses: { 200: ok("Rows", AnalyticsResponse), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const q = c.req.valid("query");
      const domains = reach.all ? undefined : reach.domains.map((d) => d.name);
      return c.json(
        { groupBy: q.groupBy, rows: await analytics(deps.store.db, { domains }, q) },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/stats/inbound",
      operationId: "getInboundStats",
      tags,
      description: description + " Counts mail received by accounts of those domains, at " +
        `most ${MAX_DAYS} days at a time.`,
      summary: "Inbound volume and verdicts (SPF, DKIM, DMARC, Junk) per day",
      security: bearer,
      request: { query: InboundQuery },
      responses: {
        200: ok(
          "Days with mail, oldest first",
          z.object({
            days: z.array(InboundDay).meta({ description: "One per day with mail." }),
          }),
        ),
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const q = c.req.valid("query");
      const to = q.to ?? new Date(deps.clock.now()).toISOString().slice(0, 10);
      const from = q.from ?? new Date(Date.parse(to) - 29 * DAY).toISOString().slice(0, 10);
      const span = (Date.parse(to) - Date.parse(from)) / DAY + 1;
      if (span < 1 || span > MAX_DAYS) {
        throw new AppError(422, "validation_failed", `from..to must span 1 to ${MAX_DAYS} days`, [
          { path: "from", message: `from..to must span 1 to ${MAX_DAYS} days` },
        ]);
      }
      const days = await inboundStats(deps.store.db, { from, to, domainIds: reachIds(reach) });
      return c.json({ days }, 200);
    },
  );
  return app;
}

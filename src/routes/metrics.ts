/**
 * `GET /metrics`: the process's metrics in Prometheus text format (services/metrics.ts), for a
 * scraper holding an administrator's session or an API key with the `metrics` scope. Gauges
 * that need the store (queue depth, the age of the oldest queued recipient, a store round-trip
 * probe) are read at scrape time, so they are right whichever process did the work.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, problems } from "../http/router.ts";
import { Metrics } from "../services/metrics.ts";
import { rawSql } from "../store/store.ts";

/** The exposition format's media type (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Registers the store-backed gauges on `metrics`. */
export function storeGauges(deps: Deps, metrics: Metrics): void {
  metrics.gauge(
    "postern_outbox_recipients",
    "Outbound recipients waiting or in flight, by state (queued, deferred, sending).",
    async () => {
      const rows = await rawSql(deps.store.db).all<{ state: string; n: number }>(
        `SELECT state, count(*) AS n FROM outbox
          WHERE state IN ('queued', 'deferred', 'sending') GROUP BY state`,
      );
      const by = new Map(rows.map((r) => [r.state, Number(r.n)]));
      return ["queued", "deferred", "sending"].map((state) => ({
        labels: { state },
        value: by.get(state) ?? 0,
      }));
    },
  );
  metrics.gauge(
    "postern_outbox_oldest_seconds",
    "Age of the oldest outbound recipient still waiting (0 when none).",
    async () => {
      const row = await rawSql(deps.store.db).get<{ oldest: number | null }>(
        `SELECT min(created_at) AS oldest FROM outbox WHERE state IN ('queued', 'deferred')`,
      );
      const oldest = row?.oldest == null ? null : Number(row.oldest);
      const age = oldest === null ? 0 : Math.max(0, (deps.clock.now() - oldest) / 1000);
      return [{ labels: {}, value: age }];
    },
  );
  metrics.gauge(
    "postern_store_probe_seconds",
    "Time of one read round trip to the store (SELECT 1) during this scrape.",
    async () => {
      const started = performance.now();
      await deps.store.client.execute("SELECT 1");
      return [{ labels: {}, value: (performance.now() - started) / 1000 }];
    },
  );
}

export function metricsRoutes(deps: Deps, metrics: Metrics) {
  const app = newRouter();
  storeGauges(deps, metrics);
  app.use("/metrics", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      operationId: "getMetrics",
      tags: ["meta"],
      summary: "Prometheus metrics of this process",
      description: "Text exposition format 0.0.4. Counters and histograms count this process's " +
        "work since it started (scrape each gateway): HTTP requests and their latency, mail " +
        "received by source and result, outbound attempts by outcome and delivery latency, " +
        "store write jobs, their round trips and latency, and — inside `postern serve` — open protocol " +
        "sessions per listener. Gauges read from the store: outbound queue depth by state, the " +
        "oldest queued recipient's age, a store round-trip probe. Needs an administrator's " +
        "session or an API key with the `metrics` scope.",
      security: bearer,
      responses: {
        200: {
          description: "The metrics",
          content: { "text/plain": { schema: z.string() } },
        },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, auth.scopes.has("metrics") ? "metrics" : "admin");
      return c.body(await metrics.render(), 200, {
        "content-type": METRICS_CONTENT_TYPE,
        "cache-control": "no-store",
      }) as never;
    },
  );
  return app;
}

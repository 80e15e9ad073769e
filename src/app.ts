/**
 * The gateway's HTTP application: Web APIs only, so the same app runs on Deno, Bun and edge
 * runtimes. Every route is declared with @hono/zod-openapi and appears in `/openapi.json`;
 * every error leaves as RFC 9457 problem+json through one handler.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { BodyBudget, bodyBudget } from "./http/body_budget.ts";
import type { Deps } from "./deps.ts";
import { clientIp } from "./http/client_ip.ts";
import { errorHandler, problemResponse } from "./http/problem.ts";
import { newRouter } from "./http/router.ts";
import { docsRoutes } from "./routes/docs.ts";
import { documentApi } from "./openapi.ts";
import { adminRoutes } from "./routes/admin.ts";
import { backupRoutes } from "./routes/backup.ts";
import { recoveryRoutes } from "./routes/recovery.ts";
import { adminStatsRoutes } from "./routes/admin_stats.ts";
import { domainRoutes } from "./routes/domains.ts";
import { queueRoutes } from "./routes/queue.ts";
import { authRoutes } from "./routes/auth.ts";
import { authWebRoutes } from "./routes/auth_web.ts";
import { autoconfigRoutes } from "./routes/autoconfig.ts";
import { bridgeRoutes } from "./routes/bridge.ts";
import { bridgeOutboxRoutes } from "./routes/bridge_outbox.ts";
import { bridgeSharpRoutes } from "./routes/bridge_sharp.ts";
import { credentialsRoutes } from "./routes/credentials.ts";
import { draftRoutes } from "./routes/drafts.ts";
import { eventRoutes } from "./routes/events.ts";
import { federationRoutes } from "./routes/federation.ts";
import { FEDERATION_SCHEMAS } from "../schemas/federation.ts";
import { schemaRoutes } from "./routes/schemas.ts";
import { sendRoutes } from "./routes/send.ts";
import { wellKnownRoutes } from "./routes/well_known.ts";
import { jmapRoutes } from "./routes/jmap.ts";
import { mailboxRoutes } from "./routes/mailboxes.ts";
import { messageRoutes } from "./routes/messages.ts";
import { mailAccessRoutes } from "./routes/mail_access.ts";
import { searchRoutes } from "./routes/search.ts";
import { threadRoutes } from "./routes/threads.ts";
import { postmarkRoutes } from "./routes/compat_postmark.ts";
import { resendRoutes } from "./routes/compat_resend.ts";
import { resendKeyRoutes } from "./routes/compat_resend_keys.ts";
import { resendDomainRoutes } from "./routes/compat_resend_domains.ts";
import { txEmailRoutes } from "./routes/tx_emails.ts";
import { txAnalyticsRoutes } from "./routes/tx_analytics.ts";
import { txSuppressionRoutes } from "./routes/tx_suppression.ts";
import { txTemplateRoutes } from "./routes/tx_templates.ts";
import { txTrackingRoutes } from "./routes/tx_tracking.ts";
import { txWebhookRoutes } from "./routes/tx_webhooks.ts";
import { shellRoutes } from "./web/shell/routes.tsx";
import { adminPageRoutes } from "./web/admin/routes.tsx";
import { mailPages } from "./web/mail/routes.tsx";
import { spamRoutes } from "./routes/spam.ts";
import { forwardingRoutes } from "./routes/forwarding.ts";
import { reportRoutes } from "./routes/reports.ts";
import { bridgeReportRoutes } from "./routes/bridge_reports.ts";
import { identityRoutes } from "./routes/identities.ts";
import { messageViewRoutes } from "./routes/message_view.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { sieveRoutes } from "./routes/sieve.ts";
import { sieveRuleRoutes } from "./routes/sieve_rules.ts";
import { Metrics } from "./services/metrics.ts";

export const API_VERSION = "0.1.0";

export function createApp(deps: Deps) {
  const app = newRouter();
  // Each write job's cost (issue 16: one round trip per job), only when someone will read it.
  const metrics = deps.metrics ??= new Metrics();
  const logJobs = deps.config.logLevel === "debug";
  const previousOnJob = deps.store.onJob;
  deps.store.onJob = (job) => {
    metrics.storeJobs.inc({ kind: job.kind });
    metrics.storeRoundTrips.inc({}, job.roundTrips);
    if (logJobs) deps.logger.log("debug", "store.job", { ...job });
    previousOnJob?.(job);
  };
  const previousOnJobTime = deps.store.onJobTime;
  deps.store.onJobTime = (seconds) => {
    metrics.storeJobDuration.observe(seconds, {});
    previousOnJobTime?.(seconds);
  };

  app.use("*", async (c, next) => {
    const requestId = c.req.header("x-request-id")?.slice(0, 64) || crypto.randomUUID();
    c.set("requestId", requestId);
    // Read here, first: a later middleware may rebuild c.req.raw (hono's bodyLimit does for a
    // chunked body), and a rebuilt request no longer carries the listener's record of its peer.
    c.set("clientIp", clientIp(c.req.raw, deps.config.trustProxy));
    // Set before the route runs, so that the response it builds with c.json()/c.body() has them
    // from the start: set afterwards, hono copies the finished response to change its headers
    // (about 20 µs a request, 2% of an API send).
    c.header("x-request-id", requestId);
    c.header("x-content-type-options", "nosniff");
    const started = performance.now();
    await next();
    const method = c.req.method;
    metrics.httpRequests.inc({ method, status: `${Math.floor(c.res.status / 100)}xx` });
    metrics.httpDuration.observe((performance.now() - started) / 1000, { method });
    // A response built without the context (a plain Response, an error's problem+json).
    if (c.res.headers.get("x-request-id") !== requestId) {
      c.header("x-request-id", requestId);
      c.header("x-content-type-options", "nosniff");
    }
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: deps.config.maxRequestBytes,
      onError: () =>
        problemResponse(
          413,
          "payload_too_large",
          `the request body exceeds ${deps.config.maxRequestBytes} bytes`,
        ),
    }),
  );
  app.use(
    "*",
    bodyBudget(
      new BodyBudget(deps.config.contentBudgetBytes, deps.config.contentBudgetPerIpBytes),
      deps.config.maxRequestBytes,
      (c) => c.get("clientIp"),
    ),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      operationId: "getHealth",
      tags: ["meta"],
      summary: "Liveness and store health",
      description:
        "Answers 200 once the store answers a query; load balancers and `postern serve` health " +
        "checks poll it. Needs no credential.",
      responses: {
        200: {
          description: "Healthy",
          content: {
            "application/json": {
              schema: z.object({
                status: z.literal("ok").meta({ description: "Always `ok` (errors are 5xx)." }),
                version: z.string().meta({ description: "The API version." }),
                time: z.string().meta({ description: "The server's clock (ISO 8601)." }),
              }),
            },
          },
        },
      },
    }),
    async (c) => {
      await deps.store.client.execute("SELECT 1");
      return c.json({
        status: "ok" as const,
        version: API_VERSION,
        time: new Date(deps.clock.now()).toISOString(),
      }, 200);
    },
  );

  app.route("/v1", authRoutes(deps));
  app.route("/v1", authWebRoutes(deps));
  app.route("/v1", credentialsRoutes(deps));
  app.route("/v1", adminRoutes(deps));
  app.route("/v1", backupRoutes(deps, API_VERSION)); // issue 21, item 5
  app.route("/v1", domainRoutes(deps));
  app.route("/v1", queueRoutes(deps));
  app.route("/v1", adminStatsRoutes(deps));
  app.route("/v1", bridgeRoutes(deps));
  app.route("/v1", bridgeReportRoutes(deps));
  app.route("/v1", bridgeOutboxRoutes(deps));
  app.route("/v1", bridgeSharpRoutes(deps));
  app.route("/v1", sendRoutes(deps));
  app.route("/v1", txEmailRoutes(deps));
  app.route("/v1", txTemplateRoutes(deps));
  app.route("/v1", txSuppressionRoutes(deps));
  app.route("/v1", txWebhookRoutes(deps));
  app.route("/v1", txAnalyticsRoutes(deps));
  app.route("/v1", txTrackingRoutes(deps));
  app.route("/v1", draftRoutes(deps));
  app.route("/v1", eventRoutes(deps));
  app.route("/v1", mailboxRoutes(deps));
  app.route("/v1", recoveryRoutes(deps)); // issue 21, item 7
  app.route("/v1", messageRoutes(deps));
  app.route("/v1", threadRoutes(deps));
  app.route("/v1", searchRoutes(deps));
  app.route("/v1", mailAccessRoutes(deps));
  app.route("/v1", messageViewRoutes(deps));
  app.route("/v1", identityRoutes(deps));
  app.route("/v1", sieveRoutes(deps));
  app.route("/v1", sieveRuleRoutes(deps));
  app.route("/v1", spamRoutes(deps)); // issue 21 item 1
  app.route("/v1", forwardingRoutes(deps));
  app.route("/v1", reportRoutes(deps));

  documentApi(app, API_VERSION);
  app.route("/", metricsRoutes(deps, metrics));
  app.route("/", docsRoutes(deps));
  // The gateway's own pages (src/web/): shell (assets, sign-in), webmail.
  app.route("/", shellRoutes(deps));
  app.route("/", adminPageRoutes(deps));
  app.route("/", mailPages(deps));
  app.route("/", schemaRoutes(FEDERATION_SCHEMAS));
  app.route("/", wellKnownRoutes(deps));
  app.route("/", jmapRoutes(deps));
  app.route("/", autoconfigRoutes(deps));
  app.route("/", federationRoutes(deps));
  // Other providers' APIs at the paths their SDKs call (README: "Compatible APIs").
  app.route("/", resendRoutes(deps));
  app.route("/", resendKeyRoutes(deps));
  app.route("/", resendDomainRoutes(deps));
  app.route("/", postmarkRoutes(deps));

  app.notFound((c) =>
    problemResponse(404, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)
  );
  app.onError(errorHandler(deps.logger));
  return app;
}

export type App = ReturnType<typeof createApp>;

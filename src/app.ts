/**
 * The gateway's HTTP application: Web APIs only, so the same app runs on Deno, Bun and edge
 * runtimes. Every route is declared with @hono/zod-openapi and appears in `/openapi.json`;
 * every error leaves as RFC 9457 problem+json through one handler.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { BodyBudget, bodyBudget } from "./http/body_budget.ts";
import type { Deps } from "./deps.ts";
import { clientIp } from "./http/client_ip.ts";
import { errorHandler, problemResponse } from "./http/problem.ts";
import { newRouter } from "./http/router.ts";
import { type LazyGroup, LazyRoutes } from "./http/lazy_routes.ts";
import { docsRoutes } from "./routes/docs.ts";
import { documentApi } from "./openapi.ts";
import { authRoutes } from "./routes/auth.ts";
import { authWebRoutes } from "./routes/auth_web.ts";
import { autoconfigRoutes } from "./routes/autoconfig.ts";
import { bridgeRoutes } from "./routes/bridge.ts";
import { bridgeOutboxRoutes } from "./routes/bridge_outbox.ts";
import { bridgeSharpRoutes } from "./routes/bridge_sharp.ts";
import { credentialsRoutes } from "./routes/credentials.ts";
import { eventRoutes } from "./routes/events.ts";
import { federationRoutes } from "./routes/federation.ts";
import { FEDERATION_SCHEMAS } from "../schemas/federation.ts";
import { schemaRoutes } from "./routes/schemas.ts";
import { sendRoutes } from "./routes/send.ts";
import { wellKnownRoutes } from "./routes/well_known.ts";
import { mailboxRoutes } from "./routes/mailboxes.ts";
import { messageRoutes } from "./routes/messages.ts";
import { mailAccessRoutes } from "./routes/mail_access.ts";
import { searchRoutes } from "./routes/search.ts";
import { threadRoutes } from "./routes/threads.ts";
import { txEmailRoutes } from "./routes/tx_emails.ts";
import { txTrackingRoutes } from "./routes/tx_tracking.ts";
import { shellRoutes } from "./web/shell/routes.tsx";
import { mailPages } from "./web/mail/routes.tsx";
import { bridgeReportRoutes } from "./routes/bridge_reports.ts";
import { messageViewRoutes } from "./routes/message_view.ts";
import { metricsRoutes } from "./routes/metrics.ts";
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
  // The groups a server answers rarely are built on their first request (http/lazy_routes.ts).
  const notFound = (c: Context) =>
    problemResponse(
      404,
      "not_found",
      `no route for ${c.req.method} ${new URL(c.req.url).pathname}`,
    );
  const lazy = new LazyRoutes(app, (router) => {
    router.notFound(notFound);
    router.onError(errorHandler(deps.logger));
  });
  const v1 = (paths: string[], load: LazyGroup["load"]) =>
    lazy.mount({ mount: "/v1", paths: paths.flatMap((p) => [`/v1${p}`, `/v1${p}/*`]), load });
  v1(["/admin"], async () => [
    (await import("./routes/admin.ts")).adminRoutes(deps),
    (await import("./routes/backup.ts")).backupRoutes(deps, API_VERSION), // issue 21, item 5
    (await import("./routes/reports.ts")).reportRoutes(deps),
  ]);
  // A domain's settings: the domains' own routes, then its suppressions and spam settings
  // (the first's middleware covers the others, as when mounted in that order).
  v1(["/domains", "/spam"], async () => [
    (await import("./routes/domains.ts")).domainRoutes(deps),
    (await import("./routes/tx_suppression.ts")).txSuppressionRoutes(deps),
    (await import("./routes/spam.ts")).spamRoutes(deps), // issue 21 item 1
  ]);
  v1(["/queue"], async () => [(await import("./routes/queue.ts")).queueRoutes(deps)]);
  v1(["/stats"], async () => [(await import("./routes/admin_stats.ts")).adminStatsRoutes(deps)]);
  app.route("/v1", bridgeRoutes(deps));
  app.route("/v1", bridgeReportRoutes(deps));
  app.route("/v1", bridgeOutboxRoutes(deps));
  app.route("/v1", bridgeSharpRoutes(deps));
  app.route("/v1", sendRoutes(deps));
  app.route("/v1", txEmailRoutes(deps));
  v1(
    ["/templates"],
    async () => [(await import("./routes/tx_templates.ts")).txTemplateRoutes(deps)],
  );
  v1(["/webhooks"], async () => [(await import("./routes/tx_webhooks.ts")).txWebhookRoutes(deps)]);
  v1(
    ["/analytics"],
    async () => [(await import("./routes/tx_analytics.ts")).txAnalyticsRoutes(deps)],
  );
  app.route("/v1", txTrackingRoutes(deps));
  v1(["/drafts"], async () => [(await import("./routes/drafts.ts")).draftRoutes(deps)]);
  app.route("/v1", eventRoutes(deps));
  app.route("/v1", mailboxRoutes(deps));
  v1(["/recovery"], async () => [(await import("./routes/recovery.ts")).recoveryRoutes(deps)]); // issue 21, item 7
  app.route("/v1", messageRoutes(deps));
  app.route("/v1", threadRoutes(deps));
  app.route("/v1", searchRoutes(deps));
  app.route("/v1", mailAccessRoutes(deps));
  app.route("/v1", messageViewRoutes(deps));
  v1(["/identities"], async () => [(await import("./routes/identities.ts")).identityRoutes(deps)]);
  v1(["/sieve"], async () => [
    (await import("./routes/sieve.ts")).sieveRoutes(deps),
    (await import("./routes/sieve_rules.ts")).sieveRuleRoutes(deps),
  ]);
  v1(["/account"], async () => [(await import("./routes/forwarding.ts")).forwardingRoutes(deps)]);

  documentApi(app, API_VERSION, () => lazy.document());
  app.route("/", metricsRoutes(deps, metrics));
  app.route("/", docsRoutes(deps));
  // The gateway's own pages (src/web/): shell (assets, sign-in), webmail.
  app.route("/", shellRoutes(deps));
  lazy.mount({
    mount: "/",
    paths: ["/admin", "/admin/*"],
    load: async () => [(await import("./web/admin/routes.tsx")).adminPageRoutes(deps)],
  });
  app.route("/", mailPages(deps));
  app.route("/", schemaRoutes(FEDERATION_SCHEMAS));
  app.route("/", wellKnownRoutes(deps));
  lazy.mount({
    mount: "/",
    paths: ["/.well-known/jmap", "/jmap/*"],
    load: async () => [(await import("./routes/jmap.ts")).jmapRoutes(deps)],
  });
  app.route("/", autoconfigRoutes(deps));
  app.route("/", federationRoutes(deps));
  // Other providers' APIs at the paths their SDKs call (README: "Compatible APIs").
  lazy.mount({
    mount: "/",
    paths: ["/emails", "/api-keys", "/domains", "/email"].flatMap((p) => [p, `${p}/*`]),
    load: async () => [
      (await import("./routes/compat_resend.ts")).resendRoutes(deps),
      (await import("./routes/compat_resend_keys.ts")).resendKeyRoutes(deps),
      (await import("./routes/compat_resend_domains.ts")).resendDomainRoutes(deps),
      (await import("./routes/compat_postmark.ts")).postmarkRoutes(deps),
    ],
  });

  app.notFound(notFound);
  app.onError(errorHandler(deps.logger));
  return app;
}

export type App = ReturnType<typeof createApp>;

/**
 * `POST /v1/bridge/dmarc-refusals`: the bridge's MX refused a message for DMARC p=reject (RFC
 * 7489 section 6.6.3) before anything was handed in; this counts it in the sender's aggregate
 * report (src/reports/dmarc_record.ts) with disposition `reject`, which the report must show
 * (appendix C) — one statement, one round trip. The bridge scope is checked by the bridge
 * routes' middleware (routes/bridge.ts) and again here.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { DmarcRefusal } from "../../schemas/bridge.ts";
import { requireScope } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { bridgeKey, json, newRouter, ok, problems } from "../http/router.ts";
import { dmarcCountStatement } from "../reports/dmarc_record.ts";

export function bridgeReportRoutes(deps: Deps) {
  const app = newRouter();
  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/dmarc-refusals",
      operationId: "bridgeRecordDmarcRefusal",
      tags: ["bridge"],
      summary: "Count a message refused for DMARC p=reject in its sender's aggregate report",
      description:
        "The bridge's MX refused a message because its sender's DMARC policy says reject (RFC 7489 section 6.6.3) before anything was handed in. The evaluation is counted with disposition `reject` in the aggregate report Postern sends that sender domain. Bridge credential only.",
      security: bridgeKey,
      request: { body: json(DmarcRefusal) },
      responses: {
        200: ok(
          "Counted (or not a DMARC evaluation)",
          z.object({
            recorded: z.boolean().meta({ description: "Whether a DMARC evaluation was counted." }),
          }),
        ),
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      requireScope(c.get("auth"), "bridge");
      const body = c.req.valid("json");
      const statement = dmarcCountStatement(
        { ...body.authentication, clientIp: body.clientIp, disposition: "reject" },
        deps.clock.now(),
      );
      if (statement) await deps.store.batch([statement]);
      return c.json({ recorded: statement !== undefined }, 200);
    },
  );
  return app;
}

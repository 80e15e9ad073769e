/**
 * Routes the bridge's SHARP/1.3 listener uses beyond MX-style hand-in (API keys with the
 * `bridge` scope): spend hashcash stamps in the table every bridge shares
 * (schemas/bridge_sharp.ts), so a stamp is accepted once whichever bridge receives it. A spent
 * stamp is never given back (bridge/sharp/session.ts says why).
 */
import { createRoute } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { SharpStampClaim, SharpStampVerdict } from "../../schemas/bridge_sharp.ts";
import { requireScope } from "../auth/auth_context.ts";
import { authenticate } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { type AppEnv, bridgeKey, json, newRouter, ok, problems } from "../http/router.ts";
import { claimStamp } from "../services/sharp_stamps.ts";

export function bridgeSharpRoutes(deps: Deps) {
  const app = newRouter();
  app.use(
    "/bridge/sharp/*",
    createMiddleware<AppEnv>(async (c, next) => {
      const auth = c.get("auth") ?? await authenticate(deps, c.req.header("authorization"));
      c.set("auth", auth);
      requireScope(auth, "bridge");
      await next();
    }),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/sharp/stamps",
      operationId: "bridgeSpendSharpStamp",
      tags: ["bridge"],
      summary: "Spend a SHARP/1.3 hashcash stamp (each is accepted once)",
      description: "The bridge checks the stamp itself (bits, date, resource); this records it " +
        "as spent until `expiresAt`, before the bridge answers, and never gives it back. " +
        "`fresh: false` means it was spent before: a replay (429).",
      security: bridgeKey,
      request: { body: json(SharpStampClaim) },
      responses: { 200: ok("Spent now, or before", SharpStampVerdict), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const { stamp, expiresAt } = c.req.valid("json");
      const fresh = await claimStamp(deps.store, stamp, expiresAt, deps.clock.now());
      return c.json({ fresh }, 200);
    },
  );
  return app;
}

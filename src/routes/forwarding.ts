/**
 * `GET`/`PUT /v1/account/forwarding`: the signed-in account's own forwarding (issue 21 item 3,
 * src/forwarding/user_forwarding.ts). Changing it needs a signed-in session — an API key that
 * can read or send must not be able to divert all of an account's mail — and is audited.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireScope, requireSession } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, json, newRouter, ok, problems, sessionOnly } from "../http/router.ts";
import { audit } from "../services/audit.ts";
import { forwardingOf, MAX_FORWARD_TARGETS, setForwarding } from "../forwarding/user_forwarding.ts";

export const Forwarding = z.object({
  targets: z.array(z.string().max(320)).max(50).meta({
    description: `Addresses your mail is forwarded to (at most ${MAX_FORWARD_TARGETS}); an ` +
      "empty list turns forwarding off. Copies leave with an SRS envelope sender in your domain " +
      "and an ARC seal over the verdicts Postern saw, so SPF and DMARC keep passing at the " +
      "next hop. Mail filed as junk is not forwarded.",
  }),
  keepCopy: z.boolean().default(true).meta({
    description: "Also keep the message in your own mailbox (default true).",
  }),
}).meta({ id: "Forwarding" });

export function forwardingRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/account/forwarding", requireAuth(deps));

  app.openapi(
    createRoute({
      method: "get",
      path: "/account/forwarding",
      operationId: "getForwarding",
      tags: ["account"],
      summary: "Your forwarding",
      description: "Where your incoming mail is forwarded to, and whether a copy stays here.",
      security: bearer,
      responses: { 200: ok("The forwarding", Forwarding), ...problems(401, 403) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await forwardingOf(deps.store.db, auth.accountId), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/account/forwarding",
      operationId: "setForwarding",
      tags: ["account"],
      summary: "Set your forwarding",
      description:
        "Replaces the forwarding; every bad address is listed (422). Needs a signed-in " +
        "session: an API key cannot divert an account's mail.",
      security: sessionOnly,
      request: { body: json(Forwarding) },
      responses: { 200: ok("The stored forwarding", Forwarding), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireSession(auth);
      const body = c.req.valid("json");
      const stored = await setForwarding(deps, { id: auth.accountId, address: auth.address }, {
        targets: body.targets,
        keepCopy: body.keepCopy,
      });
      await audit(deps.store.db, {
        actorAccountId: auth.accountId,
        action: "forwarding.set",
        target: `account:${auth.accountId}`,
        data: { targets: stored.targets.length, keepCopy: stored.keepCopy },
        ip: c.get("clientIp"),
      });
      return c.json(stored, 200);
    },
  );
  return app;
}

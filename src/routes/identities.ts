/**
 * `GET /v1/identities`: the addresses this account may send from (its own and the aliases that
 * deliver to it), for a client's From menu.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { listIdentities } from "../services/identities.ts";

export const Identity = z.object({
  address: z.string().meta({ description: "An address `from` may carry, as stored." }),
  name: z.string().meta({ description: "Display name to write beside the address." }),
  kind: z.enum(["account", "alias"]).meta({
    description: "`account`: the account's own address; `alias`: an alias that delivers to it.",
  }),
}).meta({ id: "Identity" });

export function identityRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/identities", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/identities",
      operationId: "listIdentities",
      tags: ["messages"],
      summary: "Addresses you may send from",
      description: "Your own address first, then aliases that deliver to you, by address. " +
        "Sending (`POST /v1/emails`, drafts) accepts exactly these in `from`.",
      security: bearer,
      responses: {
        200: ok(
          "Identities",
          z.object({
            items: z.array(Identity).meta({ description: "Your own address first." }),
          }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json({ items: await listIdentities(deps.store.db, auth) }, 200);
    },
  );
  return app;
}

/**
 * Resend's API-key routes (`POST/GET /api-keys`, `DELETE /api-keys/{id}`) over Postern's API
 * keys, for code that manages its keys through Resend's SDK. The caller is an API key with both
 * the `send` and `read` scopes (Resend's "full access"); a key it makes never has more than it
 * has: `full_access` gives send + read, `sending_access` send only, and `domain_id` (a Postern
 * domain id or name) restricts sending to that domain where the account may use it. Ids are
 * Postern's key ids as strings.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { type AuthContext, requireScope, type Scope } from "../auth/auth_context.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../auth/api_keys.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { compatRouter } from "../http/compat_router.ts";
import { bearer, json, ok } from "../http/router.ts";
import { rawSql } from "../store/store.ts";
import { resendErrorResponse } from "./compat_resend.ts";

const TAG = "compat-resend";

const CreateKey = z.object({
  name: z.string().min(1).max(50),
  permission: z.enum(["full_access", "sending_access"]).default("full_access"),
  domain_id: z.string().max(255).optional().meta({
    description: "Sending only from this domain (its Postern id or name).",
  }),
}).meta({ id: "ResendCreateApiKey" });

const CreatedKey = z.object({ id: z.string(), token: z.string() }).meta({
  id: "ResendCreatedApiKey",
});

const KeyList = z.object({
  object: z.literal("list"),
  has_more: z.boolean(),
  data: z.array(z.object({
    id: z.string(),
    name: z.string(),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
  })),
}).meta({ id: "ResendApiKeyList" });

const IdParam = z.object({
  id: z.string().max(20).meta({ param: { name: "id", in: "path" } }),
});

/** Resend's "full access": the caller must be an API key holding send and read. */
function fullAccess(auth: AuthContext): AuthContext {
  if (auth.kind !== "api_key") {
    throw new AppError(403, "forbidden", "use an API key (full access: send and read scopes)");
  }
  requireScope(auth, "send");
  requireScope(auth, "read");
  return auth;
}

/** The domain a `domain_id` names: a local domain id or name. */
async function domainName(deps: Deps, ref: string): Promise<string> {
  const row = await rawSql(deps.store.db).get<{ name: string }>(
    /^\d+$/.test(ref)
      ? "SELECT name FROM domains WHERE id = ?"
      : "SELECT name FROM domains WHERE name = lower(?)",
    [/^\d+$/.test(ref) ? Number(ref) : ref],
  );
  if (!row) throw new AppError(422, "validation_failed", `domain_id: no local domain ${ref}`);
  return row.name;
}

export function resendKeyRoutes(deps: Deps) {
  const app = compatRouter(deps.logger, resendErrorResponse);
  app.use("/api-keys", requireAuth(deps));
  app.use("/api-keys/*", requireAuth(deps));

  app.openapi(
    createRoute({
      method: "post",
      path: "/api-keys",
      operationId: "resendCreateApiKey",
      tags: [TAG],
      summary: "Resend: create an API key (its token is shown once)",
      security: bearer,
      request: { body: json(CreateKey) },
      responses: { 201: ok("Created", CreatedKey), 403: { description: "Not allowed" } },
    }),
    async (c) => {
      const auth = fullAccess(c.get("auth"));
      const body = c.req.valid("json");
      const scopes: Scope[] = body.permission === "full_access" ? ["send", "read"] : ["send"];
      let domains = body.domain_id ? [await domainName(deps, body.domain_id)] : [];
      // Never wider than the caller: a caller restricted to domains passes its restriction on.
      const callerDomains = auth.sendDomains ?? [];
      if (callerDomains.length > 0) {
        if (domains.length === 0) domains = [...callerDomains];
        if (!domains.every((d) => callerDomains.includes(d))) {
          throw new AppError(
            403,
            "forbidden",
            "the new key may not send from more domains than this one",
          );
        }
      }
      const { key, apiKey } = await createApiKey(deps.store, auth.accountId, {
        name: body.name,
        scopes,
        domains,
      });
      return c.json({ id: String(apiKey.id), token: key }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api-keys",
      operationId: "resendListApiKeys",
      tags: [TAG],
      summary: "Resend: the account's live API keys",
      security: bearer,
      responses: { 200: ok("Keys", KeyList) },
    }),
    async (c) => {
      const auth = fullAccess(c.get("auth"));
      const keys = (await listApiKeys(deps.store.db, auth.accountId))
        .filter((k) => k.revokedAt === null);
      return c.json({
        object: "list" as const,
        has_more: false,
        data: keys.map((k) => ({
          id: String(k.id),
          name: k.name,
          created_at: new Date(k.createdAt).toISOString(),
          last_used_at: k.lastUsedAt === null ? null : new Date(k.lastUsedAt).toISOString(),
        })),
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api-keys/{id}",
      operationId: "resendDeleteApiKey",
      tags: [TAG],
      summary: "Resend: revoke an API key of the account",
      security: bearer,
      request: { params: IdParam },
      responses: {
        200: ok(
          "Revoked",
          z.object({ object: z.literal("api_key"), id: z.string(), deleted: z.boolean() }),
        ),
      },
    }),
    async (c) => {
      const auth = fullAccess(c.get("auth"));
      const id = c.req.valid("param").id;
      if (!/^\d+$/.test(id)) throw new AppError(404, "not_found", "API key not found");
      await revokeApiKey(deps.store, auth.accountId, Number(id), deps.clock.now());
      return c.json({ object: "api_key" as const, id, deleted: true }, 200);
    },
  );
  app.all("/api-keys/*", () => {
    throw new AppError(404, "not_found", "not offered by Postern's Resend-compatible API");
  });
  return app;
}

/**
 * A signed-in user's own credentials: TOTP two-factor sign-in (RFC 6238) with recovery codes,
 * app passwords for IMAP/POP3/SMTP, API keys and the password itself. Changing any of them
 * needs a session (an API key cannot mint credentials) and leaves an audit row without secrets.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { requireAuth } from "../auth/authenticate.ts";
import { requireScope, requireSession, SCOPES } from "../auth/auth_context.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../auth/api_keys.ts";
import {
  confirmPassword,
  createAppPassword,
  deleteAppPassword,
  listAppPasswords,
} from "../auth/app_passwords.ts";
import { disableTotp, enableTotp, regenerateRecoveryCodes, setupTotp } from "../auth/two_factor.ts";
import { notFound } from "../errors.ts";
import { type AppEnv, bearer, json, newRouter, ok, problems, sessionOnly } from "../http/router.ts";
import { getAccount, setPassword } from "../services/accounts.ts";
import { audit } from "../services/audit.ts";

const iso = (ms: number | null) => ms === null ? null : new Date(ms).toISOString();

const IdParam = z.object({
  id: z.coerce.number().int().positive().meta({
    param: { name: "id", in: "path" },
    description: "The app password's or API key's id.",
  }),
});

export const TotpSetup = z.object({
  secret: z.string().meta({ description: "Base32 seed, for typing into an authenticator." }),
  otpauthUrl: z.string().meta({ description: "`otpauth://` URI, for a QR code." }),
}).meta({ id: "TotpSetup" });

export const RecoveryCodes = z.object({
  recoveryCodes: z.array(z.string()).meta({
    description: "Single-use codes, shown only now. Each replaces `totp` at sign-in once.",
  }),
}).meta({ id: "RecoveryCodes" });

export const AppPassword = z.object({
  id: z.number().int().meta({ description: "The app password's id." }),
  name: z.string().meta({ description: "What it is for." }),
  createdAt: z.string().meta({ description: "When it was created (ISO 8601)." }),
  lastUsedAt: z.string().nullable().meta({ description: "When a client last signed in with it." }),
}).meta({ id: "AppPassword" });

export const NewAppPassword = AppPassword.extend({
  password: z.string().meta({
    description: "Shown only now: four groups of four letters, e.g. `abcd-efgh-ijkl-mnop`.",
  }),
}).meta({ id: "NewAppPassword" });

const ScopeName = z.enum(SCOPES as unknown as ["read", "send", "admin", "bridge", "metrics"]);

export const ApiKey = z.object({
  id: z.number().int().meta({ description: "The key's id." }),
  name: z.string().meta({ description: "What it is for." }),
  prefix: z.string().meta({ description: "The key's first 12 characters, to tell keys apart." }),
  scopes: z.array(ScopeName).meta({ description: "What it may do." }),
  domains: z.array(z.string()).meta({
    description: "Domains it may send from (empty: the account's own addresses).",
  }),
  test: z.boolean().meta({
    description:
      "A test key (`pst_test_…`): its sends are validated and recorded, never delivered.",
  }),
  createdAt: z.string().meta({ description: "When it was created (ISO 8601)." }),
  lastUsedAt: z.string().nullable().meta({ description: "When it was last used (to the minute)." }),
  revokedAt: z.string().nullable().meta({ description: "When it was revoked, if it was." }),
}).meta({ id: "ApiKey" });

export const NewApiKey = ApiKey.extend({
  key: z.string().meta({ description: "The whole key (`pst_…`), shown only now." }),
}).meta({
  id: "NewApiKey",
  example: {
    "id": 4,
    "name": "billing service",
    "prefix": "pst_7Hq2k9Zx",
    "scopes": ["send"],
    "domains": ["example.com"],
    "test": false,
    "createdAt": "2026-12-07T10:00:00.000Z",
    "lastUsedAt": null,
    "revokedAt": null,
    "key": "pst_7Hq2k9Zx3mVbR1tYpL0sNw8cQeJ5aUdF",
  },
});

export const ApiKeyRequest = z.object({
  name: z.string().trim().min(1).max(100).meta({
    description: "What it is for (e.g. the application's name).",
  }),
  scopes: z.array(ScopeName).min(1).max(3).meta({
    description: "`bridge` for administrators only; `admin` also for domain administrators, " +
      "whose admin keys manage only their domains' settings and suppression lists.",
  }),
  domains: z.array(z.string().min(1).max(255)).max(100).optional().meta({
    description: "Local domains the key may send from, as any of their addresses (and, with " +
      "`admin`, the only domains it manages): administrators, and domain administrators for " +
      "their domains; checked on every use. Default: the account's own addresses.",
  }),
  test: z.boolean().optional().meta({
    description: "Create a test key (`pst_test_…`): every send made with it (HTTP, the Resend " +
      "and Postmark routes, SMTP relay) is validated exactly like a live one and recorded " +
      "(`GET /v1/emails`, state `test`), but nothing is delivered, queued, copied to Sent, " +
      "tracked or posted to a webhook. Default: a live key.",
  }),
}).meta({
  id: "ApiKeyRequest",
  example: { "name": "billing service", "scopes": ["send"], "domains": ["example.com"] },
});

const Code = z.string().trim().min(1).max(64).meta({
  description: "A current TOTP code, or a recovery code.",
});
const Password = z.string().min(1).max(1024).meta({ description: "The account's password." });

function apiKeyBody(v: Awaited<ReturnType<typeof listApiKeys>>[number]) {
  return {
    ...v,
    createdAt: iso(v.createdAt)!,
    lastUsedAt: iso(v.lastUsedAt),
    revokedAt: iso(v.revokedAt),
  };
}

export function credentialsRoutes(deps: Deps) {
  const app = newRouter();
  for (const path of ["/auth/2fa/*", "/auth/app-passwords", "/auth/app-passwords/*"]) {
    app.use(path, requireAuth(deps));
  }
  for (const path of ["/auth/password", "/api-keys", "/api-keys/*"]) {
    app.use(path, requireAuth(deps));
  }

  const record = (
    c: Context<AppEnv>,
    action: string,
    target: string,
    data: Record<string, unknown> = {},
  ) =>
    audit(deps.store.db, {
      actorAccountId: c.get("auth").accountId,
      action,
      target,
      data,
      ip: c.get("clientIp"),
    });
  const session = (c: Context<AppEnv>) => {
    const auth = c.get("auth");
    requireSession(auth);
    return auth;
  };

  // --- TOTP two-factor sign-in ---

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/2fa/setup",
      operationId: "setUpTwoFactor",
      tags: ["auth"],
      summary: "Start 2FA: a new TOTP seed (2FA stays off until enabled with a code)",
      description: "Creates a new TOTP seed (RFC 6238: SHA-1, 30-second steps, 6 digits) and its " +
        "`otpauth://` URI for an authenticator app. 2FA stays off until `POST " +
        "/v1/auth/2fa/enable` proves the app has it.",
      security: sessionOnly,
      responses: { 200: ok("The seed", TotpSetup), ...problems(401, 403, 409) },
    }),
    async (c) => {
      const auth = session(c);
      const result = await setupTotp(deps, auth.accountId);
      await record(c, "2fa.setup", `account:${auth.accountId}`);
      return c.json(result, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/2fa/enable",
      operationId: "enableTwoFactor",
      tags: ["auth"],
      summary: "Turn 2FA on with a current code; returns recovery codes once",
      description:
        "Turns 2FA on with a current code from the seed set up before, and returns the recovery " +
        "codes once (each works once in place of a code). From then on sign-in needs a code.",
      security: sessionOnly,
      request: { body: json(z.object({ code: Code }).meta({ id: "TotpEnableRequest" })) },
      responses: { 200: ok("2FA is on", RecoveryCodes), ...problems(401, 403, 409, 422, 429) },
    }),
    async (c) => {
      const auth = session(c);
      const codes = await enableTotp(
        deps,
        auth.accountId,
        c.req.valid("json").code,
        c.get("clientIp"),
      );
      await record(c, "2fa.enable", `account:${auth.accountId}`);
      return c.json({ recoveryCodes: codes }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/2fa/disable",
      operationId: "disableTwoFactor",
      tags: ["auth"],
      summary: "Turn 2FA off (password and a TOTP or recovery code)",
      description: "Turns 2FA off; needs the password and a current TOTP code or a recovery code.",
      security: sessionOnly,
      request: {
        body: json(z.object({ password: Password, code: Code }).meta({ id: "TotpDisableRequest" })),
      },
      responses: { 204: { description: "2FA is off" }, ...problems(401, 403, 409, 422, 429) },
    }),
    async (c) => {
      const auth = session(c);
      await disableTotp(deps, auth.accountId, c.req.valid("json"), c.get("clientIp"));
      await record(c, "2fa.disable", `account:${auth.accountId}`);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/2fa/recovery-codes",
      operationId: "replaceRecoveryCodes",
      tags: ["auth"],
      summary: "Replace all recovery codes (returned once)",
      description:
        "Replaces every recovery code with new ones, returned once; the old codes stop working. " +
        "Needs the password.",
      security: sessionOnly,
      request: { body: json(z.object({ password: Password }).meta({ id: "PasswordConfirm" })) },
      responses: { 200: ok("New codes", RecoveryCodes), ...problems(401, 403, 409, 422, 429) },
    }),
    async (c) => {
      const auth = session(c);
      const codes = await regenerateRecoveryCodes(
        deps,
        auth.accountId,
        c.req.valid("json").password,
        c.get("clientIp"),
      );
      await record(c, "2fa.recovery_codes", `account:${auth.accountId}`);
      return c.json({ recoveryCodes: codes }, 200);
    },
  );

  // --- App passwords ---

  app.openapi(
    createRoute({
      method: "get",
      path: "/auth/app-passwords",
      operationId: "listAppPasswords",
      tags: ["auth"],
      summary: "The account's app passwords (never the passwords themselves)",
      description:
        "The app passwords of the account (for IMAP, POP3 and SMTP clients that cannot do 2FA), " +
        "with when each was last used. The passwords themselves are stored hashed and never " +
        "shown again.",
      security: bearer,
      responses: {
        200: ok(
          "App passwords",
          z.object({ items: z.array(AppPassword).meta({ description: "Oldest first." }) }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const rows = await listAppPasswords(deps.store.db, auth.accountId);
      const items = rows.map((r) => ({
        id: r.id,
        name: r.name,
        createdAt: iso(r.createdAt)!,
        lastUsedAt: iso(r.lastUsedAt),
      }));
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/app-passwords",
      operationId: "createAppPassword",
      tags: ["auth"],
      summary: "Create an app password for IMAP/POP3/SMTP (shown once)",
      description:
        "Creates a password for a mail client (IMAP/POP3/SMTP AUTH), returned once; it cannot " +
        "sign in to the HTTP API. Needs a signed-in session.",
      security: sessionOnly,
      request: {
        body: json(
          z.object({
            name: z.string().trim().min(1).max(100).meta({
              description: "What it is for (e.g. the client's name).",
            }),
          }).meta({ id: "AppPasswordRequest" }),
        ),
      },
      responses: { 201: ok("Created", NewAppPassword), ...problems(401, 403, 409, 422) },
    }),
    async (c) => {
      const auth = session(c);
      const { row, password } = await createAppPassword(
        deps.store,
        auth.accountId,
        c.req.valid("json").name,
      );
      await record(c, "app_password.create", `app_password:${row.id}`, { name: row.name });
      return c.json({
        id: row.id,
        name: row.name,
        createdAt: iso(row.createdAt)!,
        lastUsedAt: null,
        password,
      }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/auth/app-passwords/{id}",
      operationId: "deleteAppPassword",
      tags: ["auth"],
      summary: "Delete an app password",
      description: "Deletes an app password; clients using it fail their next AUTH.",
      security: sessionOnly,
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = session(c);
      const row = await deleteAppPassword(deps.store, auth.accountId, c.req.valid("param").id);
      await record(c, "app_password.delete", `app_password:${row.id}`, { name: row.name });
      return c.body(null, 204);
    },
  );

  // --- Password ---

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/password",
      operationId: "changePassword",
      tags: ["auth"],
      summary: "Change the password (ends every session, this one included)",
      description:
        "Checks the current password, stores the new one (hashed) and ends every session of the " +
        "account, this one included.",
      security: sessionOnly,
      request: {
        body: json(
          z.object({
            currentPassword: Password,
            newPassword: z.string().min(10).max(1024).meta({
              description: "The new password (at least 10 characters).",
            }),
          }).meta({ id: "PasswordChangeRequest" }),
        ),
      },
      responses: { 204: { description: "Changed" }, ...problems(401, 403, 422, 429) },
    }),
    async (c) => {
      const auth = session(c);
      const account = await getAccount(deps.store.db, auth.accountId);
      if (!account) throw notFound("account");
      const body = c.req.valid("json");
      await confirmPassword(deps, account, body.currentPassword, c.get("clientIp"));
      await setPassword(deps.store, auth.accountId, body.newPassword);
      await record(c, "account.password_change", `account:${auth.accountId}`);
      return c.body(null, 204);
    },
  );

  // --- API keys ---

  app.openapi(
    createRoute({
      method: "get",
      path: "/api-keys",
      operationId: "listApiKeys",
      tags: ["api-keys"],
      summary: "The account's API keys (never the keys themselves)",
      description:
        "The account's API keys with their scopes, sending domains and last use; the keys " +
        "themselves are stored as hashes and never shown again.",
      security: bearer,
      responses: {
        200: ok(
          "API keys",
          z.object({ items: z.array(ApiKey).meta({ description: "Revoked keys included." }) }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const keys = await listApiKeys(deps.store.db, auth.accountId);
      return c.json({ items: keys.map(apiKeyBody) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api-keys",
      operationId: "createApiKey",
      tags: ["api-keys"],
      summary: "Create an API key (shown once); needs a session",
      description:
        "Creates an API key (`pst_…`, returned once) limited to the scopes given (read, send, " +
        "admin — admin only for admins — and bridge) and, for sending, to the domains given. " +
        "Needs a signed-in session: an API key cannot mint another.",
      security: sessionOnly,
      request: { body: json(ApiKeyRequest) },
      responses: { 201: ok("Created", NewApiKey), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const auth = session(c);
      const { key, apiKey } = await createApiKey(deps.store, auth.accountId, c.req.valid("json"));
      await record(c, "api_key.create", `api_key:${apiKey.id}`, {
        name: apiKey.name,
        prefix: apiKey.prefix,
        scopes: apiKey.scopes,
        domains: apiKey.domains,
        test: apiKey.test,
      });
      return c.json({ ...apiKeyBody(apiKey), key }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api-keys/{id}",
      operationId: "revokeApiKey",
      tags: ["api-keys"],
      summary: "Revoke an API key; needs a session",
      description: "Revokes an API key at once in every process. Needs a signed-in session.",
      security: sessionOnly,
      request: { params: IdParam },
      responses: { 204: { description: "Revoked" }, ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = session(c);
      const key = await revokeApiKey(
        deps.store,
        auth.accountId,
        c.req.valid("param").id,
        deps.clock.now(),
      );
      await record(c, "api_key.revoke", `api_key:${key.id}`, { prefix: key.prefix });
      return c.body(null, 204);
    },
  );

  return app;
}

/**
 * Sign-in routes: login (password, then TOTP), refresh, logout and "who am I".
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Deps } from "../deps.ts";
import { requireAuth } from "../auth/authenticate.ts";
import { requireSession } from "../auth/auth_context.ts";
import { login, logout, refresh } from "../auth/sessions.ts";
import { bearer, json, newRouter, problems } from "../http/router.ts";
import { getAccount } from "../services/accounts.ts";
import { notFound } from "../errors.ts";
import { adminDomainsOf } from "../services/domain_roles.ts";

export const TokenPair = z.object({
  accessToken: z.string().meta({ description: "A JWT for `Authorization: Bearer`; short-lived." }),
  refreshToken: z.string().meta({
    description: "Exchanges for a new pair at `POST /v1/auth/refresh` (single use).",
  }),
  tokenType: z.literal("Bearer").meta({ description: "Always `Bearer`." }),
  expiresIn: z.number().int().meta({ description: "Seconds until the access token expires." }),
}).meta({
  id: "TokenPair",
  example: {
    "accessToken": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "refreshToken": "rt_9QbV3m2xk1HcYl0pN8sZrA",
    "tokenType": "Bearer",
    "expiresIn": 900,
  },
});

export const LoginRequest = z.object({
  address: z.string().min(1).max(320).meta({
    description: "The account's address.",
    example: "admin@postern.localhost",
  }),
  password: z.string().min(1).max(1024).meta({
    description: "The account's password (app passwords are for mail clients only).",
  }),
  totp: z.string().max(16).optional().meta({ description: "Six-digit code when 2FA is on." }),
  recoveryCode: z.string().max(64).optional().meta({
    description: "A recovery code instead of `totp`.",
  }),
}).meta({
  id: "LoginRequest",
  example: {
    "address": "alice@example.com",
    "password": "correct horse battery staple",
    "totp": "123456",
  },
});

export const Me = z.object({
  id: z.number().int().meta({ description: "The account's id." }),
  address: z.string().meta({ description: "The account's address." }),
  displayName: z.string().meta({ description: "The name shown in From when none is given." }),
  role: z.enum(["user", "admin"]).meta({ description: "admin may use the admin routes." }),
  adminDomains: z.array(z.string()).meta({
    description: "Local domains this account administers (their suppression list and sending " +
      "settings).",
  }),
  totpEnabled: z.boolean().meta({ description: "Whether sign-in needs a TOTP code." }),
  quotaBytes: z.number().int().meta({ description: "Storage quota in bytes." }),
  usedBytes: z.number().int().meta({ description: "Storage used in bytes." }),
  credential: z.enum(["session", "api_key", "mail_session"]).meta({
    description: "How this request authenticated.",
  }),
  scopes: z.array(z.string()).meta({
    description: "What the credential may do (read, send, admin, bridge).",
  }),
}).meta({ id: "Me" });

export function authRoutes(deps: Deps) {
  const app = newRouter();

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/login",
      operationId: "login",
      tags: ["auth"],
      summary: "Sign in with address and password (and TOTP when 2FA is on)",
      description:
        "Checks the password (and, when the account has 2FA, `totp` or a `recoveryCode`) and " +
        "opens a session: a short-lived access token and a refresh token. Failures are " +
        "throttled per account and source address (429 with `Retry-After`); the answer never " +
        "says whether the address exists.",
      request: { body: json(LoginRequest) },
      responses: {
        200: { description: "Signed in", content: { "application/json": { schema: TokenPair } } },
        ...problems(400, 401, 422, 429),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const tokens = await login(deps, {
        ...body,
        ip: c.get("clientIp"),
        userAgent: c.req.header("user-agent") ?? "",
      });
      return c.json(tokens, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/refresh",
      operationId: "refreshSession",
      tags: ["auth"],
      summary: "Exchange a refresh token for a new token pair",
      description:
        "Rotates the session's refresh token: the answer is a new pair, and the refresh token " +
        "just used stops working (a stolen copy of it finds nothing).",
      request: {
        body: json(z.object({
          refreshToken: z.string().min(1).max(200).meta({
            description: "The refresh token of the current pair.",
          }),
        })),
      },
      responses: {
        200: { description: "New tokens", content: { "application/json": { schema: TokenPair } } },
        ...problems(400, 401, 422),
      },
    }),
    async (c) => c.json(await refresh(deps, c.req.valid("json").refreshToken), 200),
  );

  app.use("/auth/logout", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/logout",
      operationId: "logout",
      tags: ["auth"],
      summary: "End this session (its access and refresh tokens stop working)",
      description:
        "Ends the session behind the access token; its access and refresh tokens stop working " +
        "at once in every process.",
      security: bearer,
      responses: { 204: { description: "Signed out" }, ...problems(401, 403) },
    }),
    async (c) => {
      const auth = c.get("auth");
      // A bridge's IMAP/POP3 session ends itself this way too.
      if (auth.kind !== "mail_session") requireSession(auth);
      await logout(deps, auth.sessionId!);
      return c.body(null, 204);
    },
  );

  app.use("/auth/me", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/auth/me",
      operationId: "getCurrentAccount",
      tags: ["auth"],
      summary: "The signed-in account",
      description: "Who the credential belongs to: the account, its role and quota, and how it " +
        "authenticated (session, API key with its scopes, or a mail session).",
      security: bearer,
      responses: {
        200: { description: "Account", content: { "application/json": { schema: Me } } },
        ...problems(401),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      const account = await getAccount(deps.store.db, auth.accountId);
      if (!account) throw notFound("account");
      return c.json({
        id: account.id,
        address: account.address,
        displayName: account.displayName,
        role: account.role,
        adminDomains: (await adminDomainsOf(deps.store.db, [account.id])).get(account.id)!,
        totpEnabled: account.totpEnabled,
        quotaBytes: account.quotaBytes,
        usedBytes: account.usedBytes,
        credential: auth.kind,
        scopes: [...auth.scopes],
      }, 200);
    },
  );

  return app;
}

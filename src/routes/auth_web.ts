/**
 * Sign-in for the gateway's own pages (webmail, admin console): the JSON sign-in of
 * routes/auth.ts with the refresh token kept in an HttpOnly cookie instead of the answer, a
 * CSRF-checked refresh, sign-out, and "sign out everywhere" for every client. The contract is in
 * src/web/shell/session.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { getCookie } from "hono/cookie";
import { requireSession } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import {
  login,
  logoutByRefreshToken,
  logoutEverywhere,
  refresh,
  type TokenPair,
} from "../auth/sessions.ts";
import { randomToken } from "../crypto.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  CSRF_COOKIE,
  CSRF_HEADER,
  REFRESH_COOKIE,
  requireCsrf,
  requireSameOrigin,
  sessionCookie,
} from "../web/shell/session.ts";
import { LoginRequest } from "./auth.ts";

export const WebSession = z.object({
  accessToken: z.string().meta({
    description: "A short-lived access JWT: keep it in memory, send it as `Authorization: Bearer`.",
  }),
  tokenType: z.literal("Bearer").meta({ description: "Always `Bearer`." }),
  expiresIn: z.number().int().meta({ description: "Seconds until the access token expires." }),
  csrfToken: z.string().meta({
    description: `Send it as \`${CSRF_HEADER}\` to the other \`/v1/auth/web/*\` routes.`,
  }),
}).meta({ id: "WebSession" });

const csrfHeader = z.object({
  [CSRF_HEADER]: z.string().max(128).optional().meta({
    description: "The `csrfToken` of the sign-in answer (double submit of the CSRF cookie).",
  }),
});

export function authWebRoutes(deps: Deps) {
  const app = newRouter();
  const tags = ["auth"];
  const maxAge = deps.config.refreshTokenTtlDays * 86_400;

  /** Sets both cookies and answers the parts of the pair a page may hold. */
  const answer = (tokens: TokenPair, csrf: string) => {
    const headers = new Headers({
      "content-type": "application/json",
      "cache-control": "no-store",
    });
    headers.append("set-cookie", sessionCookie(REFRESH_COOKIE, tokens.refreshToken, maxAge));
    headers.append("set-cookie", sessionCookie(CSRF_COOKIE, csrf, maxAge));
    const body = {
      accessToken: tokens.accessToken,
      tokenType: tokens.tokenType,
      expiresIn: tokens.expiresIn,
      csrfToken: csrf,
    };
    return new Response(JSON.stringify(body), { status: 200, headers });
  };

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/web/login",
      operationId: "webLogin",
      tags,
      summary: "Sign in a browser page (refresh token in an HttpOnly cookie)",
      description: "The same sign-in as `POST /v1/auth/login` (answer `totp_required` means: " +
        "send again with `totp` or `recoveryCode`), for pages served by this gateway: the " +
        "refresh token is set as an `HttpOnly; Secure; SameSite=Strict` cookie and never " +
        "returned. Only same-origin browser requests are accepted (Fetch Metadata / Origin).",
      request: { body: json(LoginRequest) },
      responses: { 200: ok("Signed in", WebSession), ...problems(400, 401, 403, 422, 429) },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      requireSameOrigin(c);
      const tokens = await login(deps, {
        ...c.req.valid("json"),
        ip: c.get("clientIp"),
        userAgent: c.req.header("user-agent") ?? "",
      });
      return answer(tokens, randomToken(24));
    }) as never,
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/web/refresh",
      operationId: "webRefresh",
      tags,
      summary: "A new access token for a signed-in page (refresh cookie + CSRF header)",
      description: "Reads the refresh cookie, checks the CSRF header against the CSRF cookie " +
        "and the request's origin, rotates the refresh token and answers a new access token.",
      request: { headers: csrfHeader },
      responses: { 200: ok("New access token", WebSession), ...problems(401, 403) },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      requireCsrf(c);
      const token = getCookie(c, REFRESH_COOKIE);
      if (!token) throw new AppError(401, "token_invalid", "not signed in");
      return answer(await refresh(deps, token), getCookie(c, CSRF_COOKIE)!);
    }) as never,
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/auth/web/logout",
      operationId: "webLogout",
      tags,
      summary: "Sign a page out: end the cookie's session and clear both cookies",
      description: "Needs the CSRF header, not a bearer token, so a page can sign out after " +
        "its access token has expired or after `DELETE /v1/auth/sessions` ended it.",
      request: { headers: csrfHeader },
      responses: { 204: { description: "Signed out" }, ...problems(403) },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      requireCsrf(c);
      const token = getCookie(c, REFRESH_COOKIE);
      if (token) await logoutByRefreshToken(deps, token);
      const headers = new Headers({ "cache-control": "no-store" });
      headers.append("set-cookie", sessionCookie(REFRESH_COOKIE, "", 0));
      headers.append("set-cookie", sessionCookie(CSRF_COOKIE, "", 0));
      return new Response(null, { status: 204, headers });
    }) as never,
  );

  app.use("/auth/sessions", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "delete",
      path: "/auth/sessions",
      operationId: "logoutEverywhere",
      tags,
      summary: "Sign out everywhere: end every session of this account",
      description: "Every access and refresh token of the account stops working, this one " +
        "included. App passwords and API keys are separate credentials and stay.",
      security: bearer,
      responses: {
        200: ok(
          "Sessions ended",
          z.object({
            ended: z.number().int().meta({ description: "How many live sessions were ended." }),
          }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireSession(auth);
      return c.json({ ended: await logoutEverywhere(deps, auth.accountId) }, 200);
    },
  );

  return app;
}

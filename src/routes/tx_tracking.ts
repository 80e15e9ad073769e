/**
 * Public links of transactional mail, reached by recipients' mail clients (no credentials: each
 * token is signed, see transactional/signing.ts): the open pixel, click redirects (only to the
 * URL that was signed — never an open redirect) and the RFC 8058 one-click unsubscribe, whose
 * POST unsubscribes and whose GET only shows a confirmation form (link scanners fetch GETs).
 * Also the bridge's door for returned reports (DSN, ARF) addressed to a VERP return path.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { requireScope } from "../auth/auth_context.ts";
import { authenticate } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { type AppEnv, bridgeKey, newRouter, ok, problems } from "../http/router.ts";
import { ingestReturn } from "../transactional/returns.ts";
import { trackHit } from "../transactional/tracking.ts";

const PIXEL = Uint8Array.from(
  atob("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"),
  (c) => c.charCodeAt(0),
);

const TokenParam = z.object({
  token: z.string().max(4096).meta({
    param: { name: "token", in: "path" },
    description: "The signed token from the link in the message.",
  }),
});

const html = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>` +
  `<body style="font-family:sans-serif;max-width:32em;margin:4em auto">${body}</body></html>`;

export function txTrackingRoutes(deps: Deps) {
  const app = newRouter();
  const tags = ["tracking"];

  app.openapi(
    createRoute({
      method: "get",
      path: "/t/o/{token}",
      operationId: "trackOpen",
      tags,
      summary: "Open-tracking pixel (a 1×1 GIF; records `opened`)",
      description:
        "The open-tracking pixel inserted in HTML mail when open tracking is on: a 1×1 " +
        "transparent GIF, never cached. A valid signed token records `opened` (with the " +
        "User-Agent); any other token still gets the GIF and records nothing. Needs no " +
        "credential.",
      request: { params: TokenParam },
      responses: {
        200: { description: "The pixel", content: { "image/gif": { schema: z.string() } } },
      },
    }),
    async (c) => {
      // The pixel is served whatever the token: a bad one is simply not recorded.
      await trackHit(deps, c.req.valid("param").token, "o", {
        userAgent: c.req.header("user-agent")?.slice(0, 200),
      });
      return c.body(PIXEL as Uint8Array<ArrayBuffer>, 200, {
        "content-type": "image/gif",
        "cache-control": "no-store, max-age=0",
      });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/t/c/{token}",
      operationId: "trackClick",
      tags,
      summary: "Click redirect (records `clicked`, then 302 to the signed URL)",
      description:
        "Records `clicked` for a valid signed token and redirects (302) to the link it signs; " +
        "the URL cannot be changed without breaking the signature, so this is no open redirect. " +
        "Needs no credential.",
      request: { params: TokenParam },
      responses: { 302: { description: "To the link's URL" }, ...problems(404) },
    }),
    async (c) => {
      const claims = await trackHit(deps, c.req.valid("param").token, "c", {
        userAgent: c.req.header("user-agent")?.slice(0, 200),
      });
      if (!claims?.u) throw new AppError(404, "not_found", "unknown link");
      return c.redirect(claims.u, 302);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/unsubscribe/{token}",
      operationId: "getUnsubscribePage",
      tags,
      summary: "Unsubscribe confirmation page (does not unsubscribe by itself)",
      description:
        "A confirmation page with a button that posts the one-click unsubscribe; opening it (as " +
        "link scanners do) unsubscribes nobody. Needs no credential.",
      request: { params: TokenParam },
      responses: {
        200: { description: "A form", content: { "text/html": { schema: z.string() } } },
      },
    }),
    (c) => {
      const token = c.req.valid("param").token.replace(/[^\w.-]/g, "");
      return c.html(html(
        "Unsubscribe",
        `<form method="post" action="${token}"><input type="hidden" name="List-Unsubscribe" ` +
          `value="One-Click"><p>Stop receiving these messages?</p>` +
          `<button type="submit">Unsubscribe</button></form>`,
      ));
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/unsubscribe/{token}",
      operationId: "unsubscribeOneClick",
      tags,
      summary: "RFC 8058 one-click unsubscribe (`List-Unsubscribe=One-Click`)",
      description: "Records `unsubscribed` and adds the address to the sending domain's " +
        "suppression list. No cookies or credentials are needed (RFC 8058 section 3.2).",
      request: { params: TokenParam },
      responses: {
        200: { description: "Done", content: { "text/html": { schema: z.string() } } },
        ...problems(404),
      },
    }),
    async (c) => {
      const claims = await trackHit(deps, c.req.valid("param").token, "u", { oneClick: true });
      if (!claims) throw new AppError(404, "not_found", "unknown unsubscribe link");
      return c.html(html("Unsubscribed", "<p>You will not receive these messages again.</p>"));
    },
  );

  const bridgeOnly = createMiddleware<AppEnv>(async (c, next) => {
    const auth = c.get("auth") ?? await authenticate(deps, c.req.header("authorization"));
    c.set("auth", auth);
    requireScope(auth, "bridge");
    await next();
  });
  app.use("/bridge/tx/*", bridgeOnly);
  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/tx/returns",
      operationId: "bridgeHandInReturn",
      tags: ["bridge"],
      summary: "Hand in a returned report (DSN or ARF) for a VERP return path",
      description: "The body is the report as received (message/rfc822); `rcpt` repeats the " +
        "envelope recipients. Reports that match no message are accepted and ignored.",
      security: bridgeKey,
      request: {
        query: z.object({
          rcpt: z.union([z.string(), z.array(z.string())]).optional().meta({
            param: { name: "rcpt", in: "query" },
            description: "The envelope recipients (RCPT TO), repeated.",
          }),
        }),
        body: {
          content: { "message/rfc822": { schema: z.string().meta({ format: "binary" }) } },
          required: true,
        },
      },
      responses: {
        200: ok(
          "What was recorded",
          z.object({
            kind: z.enum(["dsn", "arf", "unknown"]).meta({
              description: "What the report was: a DSN (RFC 3464), an ARF complaint (RFC 5965).",
            }),
            emailId: z.string().optional().meta({ description: "The message it is about." }),
            events: z.array(z.object({
              recipient: z.string().meta({ description: "The recipient it is about." }),
              type: z.string().meta({ description: "The event recorded (bounced, complained…)." }),
              status: z.string().optional().meta({ description: "The DSN status (RFC 3463)." }),
              diagnostic: z.string().optional().meta({ description: "The diagnostic text." }),
            })).meta({ description: "The events recorded." }),
          }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const raw = new Uint8Array(await c.req.arrayBuffer());
      const rcpt = c.req.queries("rcpt") ?? [];
      return c.json(await ingestReturn(deps, raw, rcpt), 200);
    },
  );
  return app;
}

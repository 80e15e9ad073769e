/**
 * The OpenAPI 3.1 document's own parts, beside the operations each route module declares: the
 * API's description, its tags, the security schemes, and the `webhooks` section — one entry per
 * event Postern posts, built from the schemas the sender is typed against
 * (schemas/tx_webhooks.ts `WEBHOOK_EVENTS`), so the document and the posts cannot drift.
 * Served at `/openapi.json`; `/docs` renders it and clients/typescript is generated from it.
 */
import { z } from "@hono/zod-openapi";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { compress } from "hono/compress";
import { WEBHOOK_EVENTS, type WebhookEventType } from "../schemas/tx_webhooks.ts";
import type { AppEnv } from "./http/router.ts";

const DESCRIPTION = `Postern's HTTP API: mail (mailboxes, messages, threads, search, drafts, live
events), transactional sending (send, batch, schedule, templates, suppressions, webhooks,
analytics), accounts and credentials, administration, the bridge's own routes, and
Resend- and Postmark-compatible surfaces at the paths their SDKs call.

**Authentication.** Most operations take \`Authorization: Bearer <credential>\`: an access
token from \`POST /v1/auth/login\` (15 minutes by default; renew with
\`POST /v1/auth/refresh\`) or an API key (\`pst_…\`, created with \`POST /v1/api-keys\`, limited
to its scopes). Operations that mint credentials need a signed-in session. The Postmark surface
takes \`X-Postmark-Server-Token\`.

**Errors** are RFC 9457 problem details (\`application/problem+json\`) with a stable \`code\`;
a request with invalid fields lists every one of them in \`errors\`. The compatible surfaces
answer in their provider's error format instead.

**Webhooks** are signed the Standard Webhooks way (\`webhook-id\`, \`webhook-timestamp\`,
\`webhook-signature: v1,<base64 HMAC-SHA256>\` over \`id.timestamp.body\`); the events are
listed under *Webhooks*.`;

const TAGS: { name: string; description: string }[] = [
  { name: "meta", description: "Health of the server." },
  { name: "auth", description: "Sign-in, sessions, two-factor authentication, app passwords." },
  { name: "api-keys", description: "API keys for applications (scoped, shown once)." },
  { name: "admin", description: "Domains, accounts, aliases and the audit log (admin role)." },
  { name: "send", description: "Transactional sending: one, a batch, scheduled; the timeline." },
  { name: "templates", description: "Versioned templates rendered with variables." },
  { name: "suppression", description: "Suppression lists and sending settings per domain." },
  { name: "webhooks", description: "Endpoints that receive signed event posts." },
  { name: "analytics", description: "Counts and rates of sent mail." },
  { name: "tracking", description: "Open and click tracking, unsubscribe (links in mail)." },
  { name: "drafts", description: "Drafts saved as JSON and sent later." },
  { name: "events", description: "Live mailbox changes (Server-Sent Events)." },
  { name: "mailboxes", description: "The account's mailboxes (folders)." },
  { name: "messages", description: "Stored messages: read, flag, move, delete." },
  { name: "threads", description: "Conversations." },
  { name: "search", description: "Full-text search of the account's messages." },
  { name: "account", description: "The signed-in account's own settings (forwarding)." },
  {
    name: "sieve",
    description: "Sieve filters (RFC 5228): scripts, the active one, simple rules, vacation.",
  },
  {
    name: "mail-access",
    description: "IMAP-shaped access by UID and modseq (used by the bridge's IMAP server).",
  },
  { name: "bridge", description: "Routes the bridge (SMTP/IMAP/POP3/SHARP) calls." },
  { name: "autoconfig", description: "Mail client autoconfiguration." },
  { name: "federation", description: "Signed JSON federation between Postern gateways." },
  { name: "compat-resend", description: "Resend-compatible sending (`resend` SDK)." },
  { name: "compat-postmark", description: "Postmark-compatible sending (`postmark` SDK)." },
];

const WebhookHeaders = z.object({
  "webhook-id": z.string().meta({
    param: { name: "webhook-id", in: "header" },
    description: "The event's id; the same on every retry (deduplicate by it).",
  }),
  "webhook-timestamp": z.string().meta({
    param: { name: "webhook-timestamp", in: "header" },
    description: "Unix seconds when this attempt was signed (refuse old ones).",
  }),
  "webhook-signature": z.string().meta({
    param: { name: "webhook-signature", in: "header" },
    description: "Space-separated `v1,<base64>` HMAC-SHA256 signatures of " +
      "`<webhook-id>.<webhook-timestamp>.<body>`; two during a secret rotation's overlap.",
  }),
});

/** `email.delivered` → `onEmailDelivered`. */
const webhookOperationId = (type: string) =>
  "on" + type.split(/[._]/).map((w) => w[0].toUpperCase() + w.slice(1)).join("");

/**
 * `complete` (when given) runs before each request for the document: the app's lazily built route
 * groups add their operations then (http/lazy_routes.ts).
 */
export function documentApi(
  app: OpenAPIHono<AppEnv>,
  version: string,
  complete?: () => Promise<void>,
): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An access token from `POST /v1/auth/login` (or `/v1/auth/refresh`).",
  });
  registry.registerComponent("securitySchemes", "apiKey", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "pst_…",
    description: "An API key (`pst_…`) in `Authorization: Bearer`; it may use only its scopes " +
      "(read, send, admin, bridge) and, for sending, its domains.",
  });
  for (const [type, schema] of Object.entries(WEBHOOK_EVENTS) as [WebhookEventType, z.ZodType][]) {
    registry.registerWebhook({
      method: "post",
      path: type,
      operationId: webhookOperationId(type),
      tags: ["webhooks"],
      summary: type,
      description: type === "webhook.test"
        ? `${schema.description ?? ""} Retried like any event until the endpoint answers 2xx.`
        : `${schema.description ?? ""} Posted to every active endpoint that ` +
          "subscribes to it (or to `email.*`, or to nothing, which means every event); retried " +
          "with backoff for about 3 days until the endpoint answers 2xx.",
      request: {
        headers: WebhookHeaders,
        body: { content: { "application/json": { schema } }, required: true },
      },
      responses: {
        200: { description: "Any 2xx acknowledges the event; anything else is retried." },
      },
    });
  }
  // About 370 KB of JSON; a tenth of that gzipped.
  if (complete) {
    app.use("/openapi.json", async (_c, next) => {
      await complete();
      await next();
    });
  }
  app.use("/openapi.json", compress());
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Postern API",
      version,
      description: DESCRIPTION,
    },
    tags: TAGS,
  });
}

/**
 * Transactional message routes beside `POST /v1/emails`: the list and search of sent emails,
 * the batch send (up to 500, one
 * Idempotency-Key for the whole batch), the status timeline of a message and of each
 * recipient, cancelling a scheduled message, and uploading an attachment once to send it by
 * the account's own blob id (transactional/uploads.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  BatchRequest,
  BatchResponse,
  SentListQuery,
  SentListResponse,
  TxEmailView,
} from "../../schemas/tx_send.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import { cancelEmail } from "../transactional/schedule.ts";
import { sendBatch } from "../transactional/send.ts";
import { emailView } from "../transactional/timeline.ts";
import { listSent } from "../transactional/sent_list.ts";
import { storeUpload } from "../transactional/uploads.ts";
import { IdempotencyHeader } from "./send.ts";

const EmailParam = z.object({
  emailId: z.string().regex(/^em_[0-9a-f]{24}$/).meta({ param: { name: "emailId", in: "path" } }),
});

export function txEmailRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/emails/*", requireAuth(deps));

  app.openapi(
    createRoute({
      method: "get",
      path: "/emails",
      // Only this route: `POST /emails` (routes/send.ts) authenticates on its own.
      middleware: [requireAuth(deps)] as const,
      tags: ["send"],
      summary: "List and search sent emails, newest first",
      description: "Filters combine with AND. Keyset paging: pass `nextCursor` as `cursor`. " +
        "Needs the `read` or `send` scope; only the account's own emails are listed.",
      security: bearer,
      request: { query: SentListQuery },
      responses: { 200: ok("A page of emails", SentListResponse), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      if (!auth.scopes.has("read")) requireScope(auth, "send");
      const q = c.req.valid("query");
      const { data, nextCursor } = await listSent(deps.store.db, auth.accountId, {
        ...q,
        after: q.after === undefined ? undefined : Date.parse(q.after),
        before: q.before === undefined ? undefined : Date.parse(q.before),
      });
      return c.json({ data, nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/emails/batch",
      tags: ["send"],
      summary: "Send up to 500 messages in one request",
      description: "Each message is checked and sent on its own (`results[i].status` is 201 or " +
        "the problem's status). With an `Idempotency-Key`, a retry sends no message twice.",
      security: bearer,
      request: { headers: IdempotencyHeader, body: json(BatchRequest) },
      responses: {
        200: ok("Per-message results", BatchResponse),
        ...problems(400, 401, 403, 409, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const result = await sendBatch(
        deps,
        auth,
        c.req.valid("json"),
        c.req.valid("header")["idempotency-key"],
      );
      if (result.replayed) c.header("idempotent-replayed", "true");
      return c.json(result.body, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/emails/attachments",
      tags: ["send"],
      summary: "Upload an attachment once; send it by its `blobId`",
      description: "The `blobId` is this account's own: no other account can send it, and an " +
        "id that is not yours is refused exactly like one that never existed. Uploading the " +
        "same bytes again returns the same id.",
      security: bearer,
      request: {
        body: {
          content: {
            "application/octet-stream": { schema: z.string().meta({ format: "binary" }) },
          },
          required: true,
        },
      },
      responses: {
        201: ok("Stored", z.object({ blobId: z.string(), size: z.number().int() })),
        ...problems(401, 403, 413),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      if (bytes.byteLength > deps.config.maxMessageBytes) {
        throw new AppError(413, "payload_too_large", "the attachment is too large");
      }
      return c.json(await storeUpload(deps, auth.accountId, bytes), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/emails/{emailId}",
      tags: ["send"],
      summary: "A message's status and its timeline, per recipient",
      description: "Events: queued, scheduled, sent (a transport took the recipient off the " +
        "queue), delivered (the next hop's SMTP 250, a federation receipt, or local delivery), " +
        "deferred, bounced, failed, complained, opened, clicked, unsubscribed, suppressed, " +
        "cancelled.",
      security: bearer,
      request: { params: EmailParam },
      responses: { 200: ok("The message", TxEmailView), ...problems(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      if (!auth.scopes.has("read")) requireScope(auth, "send");
      return c.json(
        await emailView(deps.store.db, auth.accountId, c.req.valid("param").emailId),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/emails/{emailId}/cancel",
      tags: ["send"],
      summary: "Cancel a scheduled message before it is sent",
      security: bearer,
      request: { params: EmailParam },
      responses: { 200: ok("Cancelled", TxEmailView), ...problems(401, 403, 404, 409) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      return c.json(await cancelEmail(deps, auth, c.req.valid("param").emailId), 200);
    },
  );
  return app;
}

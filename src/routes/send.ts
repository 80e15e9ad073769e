/**
 * `POST /v1/emails`: send a message composed from JSON (or rendered from a template). Local
 * recipients are delivered at once (with a Sent copy); remote recipients enter the outbox as
 * `queued`, or wait there until `sendAt`. An `Idempotency-Key` header makes a retry answer with
 * the first response instead of sending again (24 hours; another body with the key → 409).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { TxSendRequest, TxSendResponse } from "../../schemas/tx_send.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth, withReads } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, problems } from "../http/router.ts";
import { idempotencyKey } from "../transactional/idempotency.ts";
import { checkAttachmentsAhead, sendEmail } from "../transactional/send.ts";

export const IdempotencyHeader = z.object({
  "idempotency-key": z.string().max(255).optional().meta({
    param: { name: "idempotency-key", in: "header" },
    description: "Makes the request safe to retry for 24 hours.",
  }),
});

export function sendRoutes(deps: Deps) {
  const app = newRouter();
  // One write job per send: its sign-in and cached reads are re-checked by that job.
  app.use("/emails", requireAuth(deps, { optimistic: true }));
  app.openapi(
    createRoute({
      method: "post",
      path: "/emails",
      operationId: "sendEmail",
      tags: ["send"],
      summary: "Send a message",
      description:
        "Builds the MIME message, stores a copy in Sent, delivers to local recipients and " +
        "queues remote ones. Needs the `send` scope. Answers after the durable commit. " +
        "Recipients on the sending domain's suppression list are skipped (`suppressed`); when " +
        "every recipient is, the send is refused (422 `recipients_suppressed`). " +
        "A remote recipient whose mail goes over SHARP/1.3 is refused (422 " +
        "`sharp_unsupported_recipient`) when SHARP cannot write its address (a local part over " +
        "20 characters, `+`, `~`, …), and so is a From address SHARP cannot send as (422 " +
        "`sharp_unsupported_sender`). With a test API key (`pst_test_…`) the message is " +
        "checked exactly the same, then only recorded (state `test`, recipients `test`): " +
        "nothing is delivered, queued, copied to Sent, tracked or posted to a webhook.",
      security: bearer,
      request: {
        headers: IdempotencyHeader,
        body: { content: { "application/json": { schema: TxSendRequest } }, required: true },
      },
      responses: {
        201: {
          description: "Accepted (or the first response, replayed: `idempotent-replayed: true`)",
          content: { "application/json": { schema: TxSendResponse } },
        },
        ...problems(400, 401, 403, 404, 409, 413, 422, 507),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const header = c.req.valid("header")["idempotency-key"];
      const key = header === undefined ? undefined : await idempotencyKey(header, "email", body);
      // The request's own copy is not needed past here: the attachments' base64 checked now and
      // Hono's copy of the parsed body dropped, only what the composer takes stays.
      c.req.bodyCache = {};
      checkAttachmentsAhead(body);
      const result = await withReads(c, deps, (deps, auth) => {
        requireScope(auth, "send");
        return sendEmail(deps, auth, body, key);
      });
      if (result.replayed) c.header("idempotent-replayed", "true");
      return c.json(result.body, 201);
    },
  );
  return app;
}

/**
 * Resend-compatible email routes at the root (`POST /emails`, `/emails/batch`, `GET`/`PATCH
 * /emails/{id}`, `POST /emails/{id}/cancel`), so Resend's SDK works with only its base URL
 * changed (`new Resend(key, { baseUrl })` or `RESEND_BASE_URL`). Each request is mapped onto
 * Postern's own send request (schemas/compat_resend.ts) and goes through the same send path as
 * `POST /v1/emails` — suppression, tracking, idempotency, scheduling — and every error leaves in
 * Resend's shape. Authentication is a Postern API key (or access token) as the bearer.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  ResendBatchRequest,
  ResendBatchResponse,
  type ResendEmail,
  ResendEmail as ResendEmailSchema,
  ResendEmailList,
  ResendError,
  resendErrorName,
  resendEvent,
  ResendId,
  ResendListQuery,
  ResendObjectId,
  ResendSendRequest,
  ResendUpdateRequest,
  SCHEDULED_AT_PROBLEM,
  scheduledTime,
  templateNumber,
  toTxSend,
} from "../../schemas/compat_resend.ts";
import { TxSendRequest } from "../../schemas/tx_send.ts";
import type { TxEmailView } from "../../schemas/tx_send.ts";
import type { ParsedMail } from "../../schemas/mail.ts";
import { eq } from "drizzle-orm";
import { blobBytes } from "../services/blob_chunks.ts";
import { schema } from "../store/store.ts";
import { type AuthContext, requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { type CompatRender, compatRouter } from "../http/compat_router.ts";
import { zodFieldErrors } from "../http/problem.ts";
import { bearer, json, ok } from "../http/router.ts";
import { idempotencyKey } from "../transactional/idempotency.ts";
import { cancelEmail, rescheduleEmail } from "../transactional/schedule.ts";
import { sendBatch, sendEmail } from "../transactional/send.ts";
import { emailView } from "../transactional/timeline.ts";
import { listSent } from "../transactional/sent_list.ts";
import { templateNameById } from "../transactional/templates.ts";
import { IdempotencyHeader } from "./send.ts";

const TAG = "compat-resend";

const errorContent = {
  content: {
    "application/json": {
      schema: ResendError,
    },
  },
};
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: "Resend error", ...errorContent }]));

const IdParam = z.object({
  id: z.string().max(64).meta({
    param: { name: "id", in: "path" },
    description: "The email's id (`em_…`).",
  }),
});

const BatchHeaders = IdempotencyHeader.extend({
  "x-batch-validation": z.enum(["strict", "permissive"]).optional().meta({
    param: { name: "x-batch-validation", in: "header" },
    description: "strict (default): one invalid email refuses the batch; permissive: the " +
      "valid ones are sent and the others listed in `errors`.",
  }),
});

/**
 * A Resend request as Postern's own; a field Postern refuses becomes a 422. A `template.id` of
 * digits is looked up among the account's templates (any version's id names the template), and
 * is a name when no version has that id.
 */
async function txRequest(
  deps: Deps,
  auth: AuthContext,
  body: ResendSendRequest,
): Promise<TxSendRequest> {
  const number = body.template ? templateNumber(body.template.id) : undefined;
  // Names may be all digits too: an id no template version has is taken as a name.
  const name = number === undefined
    ? undefined
    : await templateNameById(deps.store.db, auth.accountId, number).catch((e) => {
      if (e instanceof AppError && e.status === 404) return undefined;
      throw e;
    });
  const mapped = toTxSend(body, name);
  if (typeof mapped === "string") throw new AppError(422, "validation_failed", mapped);
  const parsed = TxSendRequest.safeParse(mapped);
  if (!parsed.success) {
    throw new AppError(422, "validation_failed", "invalid fields", zodFieldErrors(parsed.error));
  }
  return parsed.data;
}

/** Postern's ids are `em_` + 24 hex digits; anything else is simply not found. */
function emailId(id: string): string {
  if (!/^em_[0-9a-f]{24}$/.test(id)) throw new AppError(404, "not_found", "email not found");
  return id;
}

const listOrNull = (v: string[]) => (v.length ? v : null);
const written = (a: { name: string; address: string }) =>
  a.name ? `${a.name} <${a.address}>` : a.address;

/**
 * The message as queued: parsed from the bytes an outbox row still holds. Local-only mail and
 * mail whose queue rows are gone have none, and Resend's content fields are then null.
 */
async function queuedContent(deps: Deps, emailId: string): Promise<ParsedMail | undefined> {
  const db = deps.store.db;
  const [row] = await db.select({
    sha256: schema.blobs.sha256,
    size: schema.blobs.size,
    data: schema.blobs.data,
  })
    .from(schema.txRecipients)
    .innerJoin(schema.outbox, eq(schema.outbox.id, schema.txRecipients.outboxId))
    .innerJoin(schema.blobs, eq(schema.blobs.sha256, schema.outbox.blobSha256))
    .where(eq(schema.txRecipients.messageId, emailId)).limit(1);
  return row ? await deps.mime.parse(await blobBytes(db, row)) : undefined;
}

/** Resend's view of a message, from its Postern timeline and its queued content. */
function resendView(v: TxEmailView, mail: ParsedMail | undefined): ResendEmail {
  const last = v.events.at(-1);
  const to = mail ? mail.to.map((a) => a.address.toLowerCase()) : [];
  const cc = mail ? mail.cc.map((a) => a.address.toLowerCase()) : [];
  // Bcc is never written into the message: it is every recipient the headers do not name.
  const bcc = v.recipients.map((r) => r.address).filter((a) => !to.includes(a) && !cc.includes(a));
  return {
    object: "email",
    id: v.emailId,
    from: mail?.from ? written(mail.from) : v.from,
    to: mail ? mail.to.map(written) : v.recipients.map((r) => r.address),
    cc: mail ? listOrNull(mail.cc.map(written)) : null,
    bcc: mail ? listOrNull(bcc) : null,
    reply_to: mail ? listOrNull(mail.replyTo.map(written)) : null,
    subject: v.subject,
    html: mail?.html ?? null,
    text: mail?.text ?? null,
    created_at: v.createdAt,
    scheduled_at: v.sendAt,
    last_event: last ? resendEvent(last.type) : "queued",
    tags: Object.entries(v.metadata).map(([name, value]) => ({ name, value })),
  };
}

function sender(auth: AuthContext) {
  requireScope(auth, "send");
  return auth;
}

/** Errors as Resend's SDK reads them: `{statusCode, name, message}`. */
export const resendErrorResponse: CompatRender = (status, code, message) =>
  Response.json({ statusCode: status, name: resendErrorName(status, code), message }, { status });

export function resendRoutes(deps: Deps) {
  const app = compatRouter(deps.logger, resendErrorResponse);
  app.use("/emails", requireAuth(deps));
  app.use("/emails/*", requireAuth(deps));

  app.openapi(
    createRoute({
      method: "post",
      path: "/emails",
      operationId: "resendSendEmail",
      tags: [TAG],
      summary: "Resend: send an email",
      description: "Resend's `POST /emails`. `tags` are kept as the message's metadata; " +
        "`scheduled_at` (ISO 8601) becomes `sendAt`; attachments by `path` are fetched (public " +
        "URLs only) and `content_id` makes one inline; `template` renders a Postern template " +
        "(by name, or by a version's numeric id) with its `variables`.",
      security: bearer,
      request: { headers: IdempotencyHeader, body: json(ResendSendRequest) },
      responses: { 200: ok("Accepted", ResendId), ...errors(401, 403, 409, 422) },
    }),
    async (c) => {
      const auth = sender(c.get("auth"));
      const body = c.req.valid("json");
      const header = c.req.valid("header")["idempotency-key"];
      const key = header === undefined
        ? undefined
        : await idempotencyKey(header, "resend-email", body);
      const result = await sendEmail(deps, auth, await txRequest(deps, auth, body), key);
      return c.json({ id: result.body.emailId }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/emails/batch",
      operationId: "resendSendBatch",
      tags: [TAG],
      summary: "Resend: send up to 100 emails",
      description:
        "Resend's `POST /emails/batch`: up to 100 emails, each as `POST /emails` takes it. " +
        "Answers their ids in order.",
      security: bearer,
      request: { headers: BatchHeaders, body: json(ResendBatchRequest) },
      responses: { 200: ok("Sent", ResendBatchResponse), ...errors(401, 403, 409, 422) },
    }),
    async (c) => {
      const auth = sender(c.get("auth"));
      const headers = c.req.valid("header");
      const strict = headers["x-batch-validation"] !== "permissive";
      const items: TxSendRequest[] = [], at: number[] = [];
      const errors: { index: number; message: string }[] = [];
      for (const [index, item] of c.req.valid("json").entries()) {
        try {
          items.push(await txRequest(deps, auth, item));
          at.push(index);
        } catch (e) {
          if (strict || !(e instanceof AppError)) throw e;
          errors.push({ index, message: e.message });
        }
      }
      const result = items.length
        ? await sendBatch(deps, auth, items, headers["idempotency-key"])
        : { body: { results: [] } };
      const data: { id: string }[] = [];
      for (const r of result.body.results) {
        if (r.email) data.push({ id: r.email.emailId });
        else errors.push({ index: at[r.index], message: r.error?.detail ?? "refused" });
      }
      if (strict && errors.length) {
        throw new AppError(422, "validation_failed", errors.map((e) => e.message).join("; "));
      }
      return c.json(strict ? { data } : { data, errors }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/emails/{id}",
      operationId: "resendGetEmail",
      tags: [TAG],
      summary: "Resend: an email and its last event",
      description: "The content fields (`to`, `cc`, `bcc`, `reply_to`, `html`, `text`) are read " +
        "from the queued message while it is queued; for mail delivered only locally, or once " +
        "its queue rows are gone, `to` lists every recipient and the others are null.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("The email", ResendEmailSchema), ...errors(401, 403, 404) },
    }),
    async (c) => {
      const auth = c.get("auth");
      if (!auth.scopes.has("read")) requireScope(auth, "send");
      const view = await emailView(deps.store.db, auth.accountId, emailId(c.req.valid("param").id));
      return c.json(resendView(view, await queuedContent(deps, view.emailId)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/emails/{id}",
      operationId: "resendUpdateEmail",
      tags: [TAG],
      summary: "Resend: move a scheduled email to another time",
      description:
        "Resend's `PATCH /emails/{id}`: moves a scheduled email to another `scheduled_at`; one " +
        "already sent answers an error.",
      security: bearer,
      request: { params: IdParam, body: json(ResendUpdateRequest) },
      responses: { 200: ok("Moved", ResendObjectId), ...errors(401, 403, 404, 409, 422) },
    }),
    async (c) => {
      const auth = sender(c.get("auth"));
      const id = emailId(c.req.valid("param").id);
      const at = scheduledTime(c.req.valid("json").scheduled_at);
      if (!at) throw new AppError(422, "validation_failed", SCHEDULED_AT_PROBLEM);
      await rescheduleEmail(deps, auth, id, Date.parse(at));
      return c.json({ object: "email" as const, id }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/emails/{id}/cancel",
      operationId: "resendCancelEmail",
      tags: [TAG],
      summary: "Resend: cancel a scheduled email",
      description:
        "Resend's `POST /emails/{id}/cancel`: cancels a scheduled email before it is sent.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("Cancelled", ResendObjectId), ...errors(401, 403, 404, 409) },
    }),
    async (c) => {
      const auth = sender(c.get("auth"));
      const id = emailId(c.req.valid("param").id);
      await cancelEmail(deps, auth, id);
      return c.json({ object: "email" as const, id }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "get",
      path: "/emails",
      operationId: "resendListEmails",
      tags: [TAG],
      summary: "Resend: the sent emails, newest first",
      description: "Pages with `limit` and an email id in `after` (older) or `before` (newer). " +
        "`to` lists every recipient; `cc`, `bcc` and `reply_to` are null in the list.",
      security: bearer,
      request: { query: ResendListQuery },
      responses: { 200: ok("A page", ResendEmailList), ...errors(401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      if (!auth.scopes.has("read")) requireScope(auth, "send");
      const q = c.req.valid("query");
      const page = await listSent(deps.store.db, auth.accountId, {
        limit: q.limit,
        olderThan: q.after,
        newerThan: q.before,
      });
      return c.json({
        object: "list" as const,
        has_more: page.hasMore,
        data: page.data.map((e) => ({
          id: e.emailId,
          to: e.recipients.map((r) => r.address),
          from: e.from,
          created_at: e.createdAt,
          subject: e.subject,
          bcc: null,
          cc: null,
          reply_to: null,
          last_event: resendEvent(e.lastEvent ?? "queued"),
          scheduled_at: e.sendAt,
        })),
      }, 200);
    },
  );

  // The rest of Resend's API under /emails (share, metrics, receiving): a 404 its SDK
  // can read, rather than the gateway's problem+json.
  const notOffered = (c: { req: { method: string; path: string } }) => {
    throw new AppError(
      404,
      "not_found",
      `${c.req.method} ${c.req.path} is not offered by Postern's Resend-compatible API`,
    );
  };
  app.all("/emails", notOffered);
  app.all("/emails/*", notOffered);
  return app;
}

/**
 * Postmark-compatible sending at the root (`POST /email`, `/email/batch`, `/email/withTemplate`,
 * `/email/batchWithTemplates`) so Postmark's SDK works with only its host changed (`new
 * ServerClient(key, { requestHost, useHttps })`). The server token (`X-Postmark-Server-Token`)
 * is a Postern API key; each request is mapped onto Postern's own send request
 * (schemas/compat_postmark.ts) and sent through the same path as `POST /v1/emails`; a
 * `TemplateId` is the id of one of the account's templates (tx_templates.ts's `id`); errors
 * leave as Postmark's {ErrorCode, Message}. A test key
 * (`pst_test_…`) records without delivering (transactional/test_mode.ts); Postmark's own test
 * token, `POSTMARK_API_TEST`, is answered as Postmark answers it: the request is checked and
 * accepted, and nothing is sent or recorded (it names no account).
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import {
  POSTMARK_STREAMS,
  PostmarkBatch,
  PostmarkEmail,
  postmarkError,
  PostmarkResult,
  PostmarkTemplatedBatch,
  PostmarkTemplatedEmail,
  toTxSend,
} from "../../schemas/compat_postmark.ts";
import { TxSendRequest } from "../../schemas/tx_send.ts";
import { requireScope } from "../auth/auth_context.ts";
import { authenticate } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { compatRouter, describeFields } from "../http/compat_router.ts";
import { zodFieldErrors } from "../http/problem.ts";
import { type AppEnv, json, ok } from "../http/router.ts";
import { sendBatch, sendEmail } from "../transactional/send.ts";
import { newEmailId } from "../transactional/signing.ts";
import { templateNameById } from "../transactional/templates.ts";

const TAG = "compat-postmark";
const TOKEN = "x-postmark-server-token";
/** Postmark's documented test server token: validated, accepted, never sent. */
export const POSTMARK_TEST_TOKEN = "POSTMARK_API_TEST";

const security = [{ postmarkServerToken: [] as string[] }];
const errors = {
  401: ok("Bad or missing server token (ErrorCode 10)", PostmarkResult),
  422: ok("Refused (ErrorCode 300, 400, 405, 406 or 1101)", PostmarkResult),
};

/**
 * A Postmark request as Postern's own send request. `templateName` is the name its
 * `TemplateId` stands for (looked up by the caller), if it gave one.
 */
function txRequest(
  body: PostmarkEmail | PostmarkTemplatedEmail,
  templateName?: string,
): TxSendRequest {
  if (body.MessageStream !== undefined && !POSTMARK_STREAMS.includes(body.MessageStream)) {
    throw new AppError(
      422,
      "stream_not_found",
      `the message stream '${body.MessageStream}' was not found: Postern has ` +
        POSTMARK_STREAMS.join(" and "),
    );
  }
  if ("TemplateModel" in body) {
    const given = [body.TemplateId, body.TemplateAlias].filter((v) => v !== undefined);
    if (given.length !== 1) {
      throw new AppError(
        422,
        "validation_failed",
        "give exactly one of TemplateId and TemplateAlias",
      );
    }
  }
  const parsed = TxSendRequest.safeParse(toTxSend(body, templateName));
  if (!parsed.success) {
    throw new AppError(422, "validation_failed", "invalid fields", zodFieldErrors(parsed.error));
  }
  return parsed.data;
}

const accepted = (to: string | undefined, emailId: string): PostmarkResult => ({
  To: to,
  SubmittedAt: new Date().toISOString(),
  MessageID: emailId,
  ErrorCode: 0,
  Message: "OK",
});

/** With Postmark's test token: the id an accepted message would get, nothing sent. */
const isTestToken = (c: Context<AppEnv>) => c.req.header(TOKEN) === POSTMARK_TEST_TOKEN;

export function postmarkRoutes(deps: Deps) {
  const send = async (c: Context<AppEnv>, req: TxSendRequest) =>
    isTestToken(c) ? newEmailId() : (await sendEmail(deps, c.get("auth"), req)).body.emailId;

  /**
   * The Postern request for a templated email: a `TemplateId` is looked up among the account's
   * templates (Postmark's test token names no account: the id is taken unchecked, nothing is
   * sent). `names` spares a batch looking the same id up twice.
   */
  const templated = async (
    c: Context<AppEnv>,
    body: PostmarkTemplatedEmail,
    names = new Map<number, Promise<string>>(),
  ) => {
    const id = body.TemplateId;
    if (id === undefined || body.TemplateAlias !== undefined) return txRequest(body);
    if (isTestToken(c)) return txRequest(body, `template-${id}`);
    if (!names.has(id)) {
      names.set(id, templateNameById(deps.store.db, c.get("auth").accountId, id));
    }
    return txRequest(body, await names.get(id));
  };

  /** Answers one result per email, each accepted or refused on its own. */
  const batch = async (
    c: Context<AppEnv>,
    body: (PostmarkEmail | PostmarkTemplatedEmail)[],
    request: (item: PostmarkEmail | PostmarkTemplatedEmail) => Promise<TxSendRequest>,
  ) => {
    const out: PostmarkResult[] = new Array(body.length);
    const items: TxSendRequest[] = [], at: number[] = [];
    for (const [index, item] of body.entries()) {
      try {
        items.push(await request(item));
        at.push(index);
      } catch (e) {
        if (!(e instanceof AppError)) throw e;
        out[index] = {
          ErrorCode: postmarkError(e.status, e.code).ErrorCode,
          Message: e.fields?.length ? describeFields(e.fields) : e.message,
        };
      }
    }
    if (items.length && isTestToken(c)) {
      at.forEach((index) => out[index] = accepted(body[index].To, newEmailId()));
    } else if (items.length) {
      const result = await sendBatch(deps, c.get("auth"), items);
      for (const r of result.body.results) {
        const index = at[r.index];
        out[index] = r.email ? accepted(body[index].To, r.email.emailId) : {
          ErrorCode: postmarkError(r.status, r.error?.code ?? "").ErrorCode,
          Message: r.error?.detail ?? "refused",
        };
      }
    }
    return out;
  };

  const app = compatRouter(deps.logger, (status, code, message) => {
    const e = postmarkError(status, code);
    return Response.json({ ErrorCode: e.ErrorCode, Message: message }, { status: e.status });
  });
  const auth = createMiddleware<AppEnv>(async (c, next) => {
    const token = c.req.header(TOKEN);
    if (!token) throw new AppError(401, "unauthorized", `the ${TOKEN} header is missing`);
    if (token === POSTMARK_TEST_TOKEN) return await next();
    const ctx = await authenticate(deps, `Bearer ${token}`);
    requireScope(ctx, "send");
    c.set("auth", ctx);
    await next();
  });
  app.use("/email", auth);
  app.use("/email/*", auth);
  app.openAPIRegistry.registerComponent("securitySchemes", "postmarkServerToken", {
    type: "apiKey",
    in: "header",
    name: "X-Postmark-Server-Token",
    description: "A Postern API key with the `send` scope (a test key records without " +
      "delivering), or Postmark's test token `POSTMARK_API_TEST`: checked and accepted, " +
      "nothing sent or recorded.",
  });

  const single = (path: string, operationId: string, summary: string, schema: z.ZodType) =>
    createRoute({
      method: "post",
      path,
      operationId,
      tags: [TAG],
      summary,
      description: `Postmark's \`POST ${path}\`: the fields its SDK sends (From, To, Cc, Bcc, ` +
        "ReplyTo, Subject, bodies, Tag, Metadata, Headers, Attachments with ContentID, " +
        "TrackOpens, TrackLinks, MessageStream) reach the message or its record; errors come " +
        "back in Postmark's body with its `ErrorCode`.",
      security,
      request: { body: json(schema) },
      responses: { 200: ok("Accepted (ErrorCode 0)", PostmarkResult), ...errors },
    });

  app.openapi(
    single("/email", "postmarkSendEmail", "Postmark: send an email", PostmarkEmail),
    async (c) => {
      const body = c.req.valid("json") as PostmarkEmail;
      return c.json(accepted(body.To, await send(c, txRequest(body))), 200);
    },
  );

  app.openapi(
    single(
      "/email/withTemplate",
      "postmarkSendEmailWithTemplate",
      "Postmark: send an email rendered from a template (`TemplateId` or `TemplateAlias`)",
      PostmarkTemplatedEmail,
    ),
    async (c) => {
      const body = c.req.valid("json") as PostmarkTemplatedEmail;
      return c.json(accepted(body.To, await send(c, await templated(c, body))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/email/batch",
      operationId: "postmarkSendEmailBatch",
      tags: [TAG],
      summary: "Postmark: send up to 500 emails, each accepted or refused on its own",
      description:
        "Postmark's `POST /email/batch`: up to 500 messages; each is accepted or refused on its " +
        "own, with Postmark's `ErrorCode` per message.",
      security,
      request: { body: json(PostmarkBatch) },
      responses: { 200: ok("One result per email", z.array(PostmarkResult)), ...errors },
    }),
    async (c) => {
      const body = c.req.valid("json") as PostmarkEmail[];
      return c.json(await batch(c, body, (item) => Promise.resolve(txRequest(item))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/email/batchWithTemplates",
      operationId: "postmarkSendEmailBatchWithTemplates",
      tags: [TAG],
      summary: "Postmark: send up to 500 templated emails, each accepted or refused on its own",
      description: "Postmark's `POST /email/batchWithTemplates`: `{Messages: [...]}`, each as " +
        "`/email/withTemplate` takes it (`TemplateId` or `TemplateAlias`, `TemplateModel`); " +
        "one result per message, in order, with Postmark's `ErrorCode`.",
      security,
      request: { body: json(PostmarkTemplatedBatch) },
      responses: { 200: ok("One result per email", z.array(PostmarkResult)), ...errors },
    }),
    async (c) => {
      const names = new Map<number, Promise<string>>();
      const body = c.req.valid("json").Messages as PostmarkTemplatedEmail[];
      return c.json(
        await batch(c, body, (item) => templated(c, item as PostmarkTemplatedEmail, names)),
        200,
      );
    },
  );
  app.all("/email/*", (c) => {
    throw new AppError(404, "not_found", `${c.req.method} ${c.req.path} is not offered`);
  });
  return app;
}

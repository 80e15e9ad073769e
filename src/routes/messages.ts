/**
 * Message routes: the cursor-paged list, the JSON and raw forms, attachment download, flags and
 * keywords, move, delete to Trash / purge, and a batch of the same actions. Every id that is not
 * the caller's answers 404, exactly as an id that does not exist.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  MessageBatchRequest,
  MessageBatchResult,
  MessageDeleteResult,
  MessageDetail,
  MessageMoveRequest,
  MessagePage,
  MessageSummary,
  MessageUpdateRequest,
} from "../../schemas/api_mail.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth, withReads } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  batchMessages,
  contentDisposition,
  deleteMessage,
  getAttachment,
  getMessage,
  getRawStream,
  listMessages,
  moveMessage,
  safeContentType,
  updateMessage,
} from "../services/messages.ts";
import { IdParam } from "./mailboxes.ts";

const id = () => z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Paging parameters shared by the list routes. */
export const PageQuery = {
  cursor: z.string().max(100).optional().meta({ description: "`nextCursor` of the last page." }),
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({
    description: "Items per page (1–200).",
  }),
};

const ListQuery = z.object({
  mailboxId: id().optional().meta({ description: "Only messages in this mailbox." }),
  threadId: id().optional().meta({ description: "Only messages of this conversation." }),
  flag: z.enum(["seen", "unseen", "flagged", "answered", "draft"]).optional().meta({
    description: "Only messages with (or, for `unseen`, without) this flag.",
  }),
  ...PageQuery,
});

const binary = (type: string, description: string) => ({
  description,
  content: { [type]: { schema: z.string().meta({ format: "binary" }) } },
});

/**
 * A stream of known length, sent with its Content-Length: workerd keeps that header on a stream
 * only through its own FixedLengthStream (else it sends the body chunked); elsewhere the header
 * given is used as it is.
 */
function sized(body: ReadableStream<Uint8Array>, size: number): ReadableStream<Uint8Array> {
  const Fixed = (globalThis as {
    FixedLengthStream?: new (length: number) => TransformStream<Uint8Array, Uint8Array>;
  }).FixedLengthStream;
  return Fixed ? body.pipeThrough(new Fixed(size)) : body;
}
export function messageRoutes(deps: Deps) {
  const app = newRouter();
  // A flag change is one write job: its sign-in is re-checked by that job (store/read_scope.ts).
  app.use("/messages/*", requireAuth(deps, { optimistic: (c) => c.req.method === "PATCH" }));
  const tags = ["messages"];

  app.openapi(
    createRoute({
      method: "get",
      path: "/messages",
      operationId: "listMessages",
      tags,
      summary: "List messages, newest first",
      description: "Ordered by arrival (internal date) then id, both descending. Pass " +
        "`nextCursor` back as `cursor` for the next page; a malformed cursor is 400.",
      security: bearer,
      request: { query: ListQuery },
      responses: {
        200: ok("A page of messages", MessagePage),
        ...problems(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await listMessages(deps.store.db, auth.accountId, c.req.valid("query")), 200);
    },
  );

  // Registered before /messages/{id} so "batch" is never read as an id.
  app.openapi(
    createRoute({
      method: "post",
      path: "/messages/batch",
      operationId: "updateMessagesBatch",
      tags,
      summary: "One action on up to 1000 messages",
      description: "`flag` takes `flags`/`addKeywords`/`removeKeywords`, `move` takes " +
        "`mailboxId`; `delete` moves to Trash (purges what is already there); `purge` removes " +
        "for good. Ids that are not yours are listed in `notFound`.",
      security: bearer,
      request: { body: json(MessageBatchRequest) },
      responses: { 200: ok("Done", MessageBatchResult), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await batchMessages(deps, auth.accountId, c.req.valid("json")), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/messages/{id}",
      operationId: "getMessage",
      tags,
      summary: "One message: summary, headers, bodies and attachment list",
      description:
        "A message: summary, flags and keywords, every header, the text and HTML bodies, the " +
        "attachment list and, for received mail, the authentication verdicts. HTML is returned " +
        "as sent: render it sandboxed.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("The message", MessageDetail), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const id = c.req.valid("param").id;
      return c.json(await getMessage(deps.store.db, auth.accountId, id, deps.mime), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/messages/{id}/raw",
      operationId: "getMessageRaw",
      tags,
      summary: "The message's exact RFC 5322 bytes",
      description: "The message exactly as stored (`message/rfc822`), for download or re-import.",
      security: bearer,
      request: { params: IdParam },
      responses: {
        200: binary("message/rfc822", "The raw message"),
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { id } = c.req.valid("param");
      // Streamed from the store a chunk at a time (a Worker holds 128 MB; issue 17, item 5).
      const raw = await getRawStream(deps.store.db, auth.accountId, id);
      return c.body(sized(raw.body, raw.size), 200, {
        "content-type": "message/rfc822",
        "content-length": String(raw.size),
        "content-disposition": `attachment; filename="message-${id}.eml"`,
        "x-content-type-options": "nosniff",
      });
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/messages/{id}/attachments/{index}",
      operationId: "getMessageAttachment",
      tags,
      summary: "One attachment's decoded content",
      description: "Always served as a download (`Content-Disposition: attachment`, sanitised " +
        "filename, RFC 6266 `filename*`), with `nosniff` and a sandboxing CSP.",
      security: bearer,
      request: {
        params: IdParam.extend({
          index: z.coerce.number().int().min(0).max(100_000).meta({
            param: { name: "index", in: "path" },
            description: "`index` from the message's `attachments`.",
          }),
        }),
      },
      responses: {
        200: binary("application/octet-stream", "The content, with the part's media type"),
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { id, index } = c.req.valid("param");
      const part = await getAttachment(deps, auth.accountId, id, index);
      return c.body(part.content as Uint8Array<ArrayBuffer>, 200, {
        "content-type": safeContentType(part.contentType),
        "content-length": String(part.content.byteLength),
        "content-disposition": contentDisposition(part.filename),
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "cache-control": "private, no-store",
      });
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/messages/{id}",
      operationId: "updateMessage",
      tags,
      summary: "Change flags and keywords",
      description: "Any change takes a new modification sequence (RFC 7162).",
      security: bearer,
      request: { params: IdParam, body: json(MessageUpdateRequest) },
      responses: { 200: ok("Updated", MessageSummary), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const change = c.req.valid("json");
      return c.json(
        await withReads(c, deps, (deps, auth) => {
          requireScope(auth, "read");
          return updateMessage(deps, auth.accountId, id, change);
        }),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/messages/{id}/move",
      operationId: "moveMessage",
      tags,
      summary: "Move to another of your mailboxes (new UID there)",
      description:
        "Moves the message to another mailbox of the account; it gets a new UID there (IMAP " +
        "clients see an expunge and a new message).",
      security: bearer,
      request: { params: IdParam, body: json(MessageMoveRequest) },
      responses: { 200: ok("Moved", MessageSummary), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { id } = c.req.valid("param");
      const { mailboxId } = c.req.valid("json");
      return c.json(await moveMessage(deps, auth.accountId, id, mailboxId), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/messages/{id}",
      operationId: "deleteMessage",
      tags,
      summary: "Move to Trash; purge when already there or with purge=true",
      description:
        "Moves the message to Trash; a message already in Trash, or `purge=true`, is deleted " +
        "for good.",
      security: bearer,
      request: {
        params: IdParam,
        query: z.object({
          purge: z.enum(["true", "false"]).optional().meta({ description: "Remove for good." }),
        }),
      },
      responses: { 200: ok("Deleted", MessageDeleteResult), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { id } = c.req.valid("param");
      const purge = c.req.valid("query").purge === "true";
      return c.json(await deleteMessage(deps, auth.accountId, id, purge), 200);
    },
  );

  return app;
}

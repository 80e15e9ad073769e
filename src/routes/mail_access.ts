/**
 * The mailbox-access routes the bridge's IMAP and POP3 servers use with an account's own token
 * (`/v1/mail-access/mailboxes/{id}/...`): batch calls so that no IMAP command costs a round trip
 * per message. Account-scoped like every mail route: another account's mailbox is 404.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  AppendManyMeta,
  AppendManyResult,
  AppendResult,
  decodeFrames,
  ExpungeRequest,
  ExpungeResult,
  FlagName,
  MailboxChanges,
  MailboxIndex,
  MailboxState,
  Maildrop,
  RAW_FRAMES_TYPE,
  RawRequest,
  SearchRequest,
  SearchResult,
  StoreFlagsRequest,
  StoreFlagsResult,
  StructureResult,
  TransferRequest,
  TransferResult,
  UidsRequest,
} from "../../schemas/mail_access.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  INDEX_PAGE,
  mailboxChanges,
  mailboxIndex,
  mailboxState,
  MAILDROP_PAGE,
  maildropJson,
} from "../services/mail_access.ts";
import { rawFrames, structures } from "../services/mail_access_raw.ts";
import { searchMailbox } from "../services/mail_access_search.ts";
import {
  appendMessage,
  appendMessages,
  copyMessages,
  expunge,
  moveToMailbox,
  storeFlags,
} from "../services/mail_access_write.ts";
import { IdParam } from "./mailboxes.ts";

const tags = ["mail-access"];

/** The query of a list paged by UID: `afterUid` (the previous page's `nextAfterUid`), `limit`. */
const uidPage = (max: number) =>
  z.object({
    afterUid: z.coerce.number().int().min(0).default(0).meta({
      description: "Only UIDs above this (`nextAfterUid` of the previous page).",
    }),
    limit: z.coerce.number().int().min(1).max(max).default(max).meta({
      description: "Page size.",
    }),
  });
const base = "/mail-access/mailboxes/{id}";

export function mailAccessRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/mail-access/*", requireAuth(deps));
  app.use("/mail-access/*", async (c, next) => {
    requireScope(c.get("auth"), "read");
    await next();
  });
  const db = deps.store.db;

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/state`,
      operationId: "getMailboxState",
      tags,
      summary: "UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and counts (IMAP STATUS, NOOP polling)",
      description:
        "UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and message counts of a mailbox: what IMAP SELECT, " +
        "STATUS and NOOP report.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("State", MailboxState), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(await mailboxState(db, c.get("auth").accountId, id), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/index`,
      operationId: "getMailboxIndex",
      tags,
      summary: "Every message's UID, flags, modseq, internal date and size, in UID order",
      description: `One call for the whole mailbox; paged only beyond ${INDEX_PAGE} messages ` +
        "(pass `nextAfterUid` as `afterUid`).",
      security: bearer,
      request: {
        params: IdParam,
        query: uidPage(INDEX_PAGE),
      },
      responses: { 200: ok("The index", MailboxIndex), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { afterUid, limit } = c.req.valid("query");
      return c.json(await mailboxIndex(db, c.get("auth").accountId, id, afterUid, limit), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/mail-access/maildrop",
      operationId: "getMaildrop",
      tags,
      summary: "The Inbox as POP3 opens it: its state, UIDs and sizes as two columns",
      description: "What a POP3 login reads (RFC 1939 maildrop): the Inbox's state and every " +
        "message's UID and size, as two arrays in UID order, in one call with no mailbox id " +
        `to look up first; paged only beyond ${MAILDROP_PAGE} messages.`,
      security: bearer,
      request: {
        query: uidPage(MAILDROP_PAGE),
      },
      responses: { 200: ok("The maildrop", Maildrop), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const { afterUid, limit } = c.req.valid("query");
      // Built as JSON text in the store: passed on without a parse and a stringify.
      const body = await maildropJson(db, c.get("auth").accountId, afterUid, limit);
      return c.body(body, 200, { "content-type": "application/json" }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/changes`,
      operationId: "getMailboxChanges",
      tags,
      summary: "Changed messages and expunged UIDs since a modseq (CONDSTORE/QRESYNC)",
      description:
        "Messages changed and UIDs expunged since a modseq (RFC 7162 CONDSTORE/QRESYNC), so a " +
        "client resynchronises without reading the whole mailbox.",
      security: bearer,
      request: {
        params: IdParam,
        query: z.object({
          sinceModseq: z.coerce.number().int().min(0).meta({
            description: "The HIGHESTMODSEQ the client last saw.",
          }),
        }),
      },
      responses: { 200: ok("Changes", MailboxChanges), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { sinceModseq } = c.req.valid("query");
      return c.json(await mailboxChanges(db, c.get("auth").accountId, id, sinceModseq), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/raw`,
      operationId: "fetchRawMessages",
      tags,
      summary: "Exact bytes (or header blocks) of many messages as binary frames",
      description: `\`${RAW_FRAMES_TYPE}\`: per message an 8-byte head (UID, length; unsigned ` +
        "32-bit big-endian) and the bytes, ascending by UID; UIDs not present are left out.",
      security: bearer,
      request: { params: IdParam, body: json(RawRequest) },
      responses: {
        200: {
          description: "Frames",
          content: { [RAW_FRAMES_TYPE]: { schema: z.string().meta({ format: "binary" }) } },
        },
        ...problems(400, 401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { uids, part } = c.req.valid("json");
      const stream = await rawFrames(deps, c.get("auth").accountId, id, uids, part);
      return c.body(stream, 200, { "content-type": RAW_FRAMES_TYPE }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/structure`,
      operationId: "fetchMessageStructures",
      tags,
      summary: "MIME structure and envelope of many messages (BODYSTRUCTURE, ENVELOPE)",
      description:
        "The MIME structure (BODYSTRUCTURE) and envelope (ENVELOPE) of many messages by UID, as " +
        "IMAP FETCH needs them (RFC 3501 section 7.4.2).",
      security: bearer,
      request: { params: IdParam, body: json(UidsRequest) },
      responses: { 200: ok("Structures", StructureResult), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const items = await structures(deps, c.get("auth").accountId, id, c.req.valid("json").uids);
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/flags`,
      operationId: "storeMessageFlags",
      tags,
      summary: "Add, remove or replace flags on a UID set (STORE, UNCHANGEDSINCE)",
      description: "Adds, removes or replaces flags and keywords on a UID set (IMAP STORE); with " +
        "`unchangedSince` (RFC 7162) messages modified since are left alone and reported.",
      security: bearer,
      request: { params: IdParam, body: json(StoreFlagsRequest) },
      responses: { 200: ok("Stored", StoreFlagsResult), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      return c.json(await storeFlags(deps, c.get("auth").accountId, id, c.req.valid("json")), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/expunge`,
      operationId: "expungeMessages",
      tags,
      summary: "Remove the \\Deleted messages for good (EXPUNGE, UID EXPUNGE)",
      description:
        "Removes the messages flagged \\\\Deleted for good (IMAP EXPUNGE), or only those of a " +
        "UID set (UID EXPUNGE, RFC 4315).",
      security: bearer,
      request: { params: IdParam, body: json(ExpungeRequest) },
      responses: { 200: ok("Expunged", ExpungeResult), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { uids } = c.req.valid("json");
      return c.json(await expunge(deps, c.get("auth").accountId, id, uids), 200);
    },
  );

  for (const action of ["copy", "move"] as const) {
    app.openapi(
      createRoute({
        method: "post",
        path: `${base}/${action}`,
        operationId: action === "copy" ? "copyMessages" : "moveMessagesByUid",
        tags,
        summary: action === "copy"
          ? "Copy a UID set to another mailbox; the UID mapping (COPYUID)"
          : "Move a UID set to another mailbox (RFC 6851); the UID mapping",
        description: action === "copy"
          ? "Copies a UID set to another mailbox of the account and answers the UID mapping " +
            "(UIDPLUS COPYUID, RFC 4315)."
          : "Moves a UID set to another mailbox of the account (IMAP MOVE, RFC 6851) and " +
            "answers the UID mapping.",
        security: bearer,
        request: { params: IdParam, body: json(TransferRequest) },
        responses: { 200: ok("Done", TransferResult), ...problems(400, 401, 403, 404, 422, 507) },
      }),
      async (c) => {
        const { id } = c.req.valid("param");
        const { uids, targetMailboxId } = c.req.valid("json");
        const run = action === "copy" ? copyMessages : moveToMailbox;
        return c.json(await run(deps, c.get("auth").accountId, id, uids, targetMailboxId), 200);
      },
    );
  }

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/append`,
      operationId: "appendMessage",
      tags,
      summary: "Store a message's exact bytes with flags and internal date (APPEND)",
      description:
        "Stores a message's exact bytes in the mailbox with flags and an internal date (IMAP " +
        "APPEND); answers its UID (APPENDUID).",
      security: bearer,
      request: {
        params: IdParam,
        query: z.object({
          flags: z.string().max(10_000).optional().meta({
            description: "Space-separated flags, e.g. `\\Seen $Forwarded`.",
          }),
          internalDate: z.coerce.number().int().min(0).optional().meta({
            description: "Unix milliseconds; default now.",
          }),
        }),
        body: {
          content: { "message/rfc822": { schema: z.string().meta({ format: "binary" }) } },
          required: true,
        },
      },
      responses: {
        200: ok("Stored", AppendResult),
        ...problems(400, 401, 403, 404, 413, 422, 507),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const q = c.req.valid("query");
      const flags = (q.flags ?? "").split(/\s+/).filter(Boolean);
      for (const f of flags) {
        if (!FlagName.safeParse(f).success) {
          throw new AppError(422, "validation_failed", `"${f}" is not a flag`, [
            { path: "query.flags", message: "not a flag" },
          ]);
        }
      }
      const raw = new Uint8Array(await c.req.arrayBuffer());
      const result = await appendMessage(deps, c.get("auth").accountId, id, raw, {
        flags,
        internalDate: q.internalDate,
      });
      return c.json(result, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/append-many`,
      operationId: "appendManyMessages",
      tags,
      summary: "Store several messages at once, all or none (MULTIAPPEND, RFC 3502)",
      description: `The body is \`${RAW_FRAMES_TYPE}\`: per message an 8-byte head (its index, ` +
        "its length; unsigned 32-bit big-endian) and its exact bytes. `meta` gives each " +
        "message's flags and internal date, in the same order. One write job stores them " +
        "with the mailbox's next UIDs in order, or none of them (quota, a vanished mailbox). " +
        "Together they must fit in one message's size limit.",
      security: bearer,
      request: {
        params: IdParam,
        query: z.object({
          meta: z.string().max(200_000).meta({
            description: "JSON: `[{ flags: string[], internalDate?: number }]`, one per message.",
          }),
        }),
        body: {
          content: { [RAW_FRAMES_TYPE]: { schema: z.string().meta({ format: "binary" }) } },
          required: true,
        },
      },
      responses: {
        200: ok("Stored, in order", AppendManyResult),
        ...problems(400, 401, 403, 404, 413, 422, 507),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      let meta: AppendManyMeta;
      try {
        meta = AppendManyMeta.parse(JSON.parse(c.req.valid("query").meta));
      } catch {
        throw new AppError(422, "validation_failed", "meta is not a list of flags and dates", [
          { path: "query.meta", message: "invalid" },
        ]);
      }
      const body = new Uint8Array(await c.req.arrayBuffer());
      const frames = decodeFrames(body);
      if (!frames || frames.length !== meta.length) {
        throw new AppError(400, "bad_request", "the body's frames do not match meta", [
          { path: "body", message: `expected ${meta.length} complete frames` },
        ]);
      }
      const total = frames.reduce((n, f) => n + f.bytes.byteLength, 0);
      if (total > deps.config.maxMessageBytes) {
        throw new AppError(
          413,
          "message_too_large",
          `the messages together exceed ${deps.config.maxMessageBytes} bytes`,
        );
      }
      const items = await appendMessages(
        deps,
        c.get("auth").accountId,
        id,
        frames.map((f, i) => ({ raw: f.bytes, ...meta[i] })),
      );
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/search`,
      operationId: "searchMailboxUids",
      tags,
      summary: "UIDs matching a SEARCH criteria tree (every RFC 3501 key, MODSEQ)",
      description:
        "The UIDs matching an IMAP SEARCH criteria tree (every RFC 3501 search key, and MODSEQ " +
        "from RFC 7162).",
      security: bearer,
      request: { params: IdParam, body: json(SearchRequest) },
      responses: { 200: ok("Matches", SearchResult), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { criteria } = c.req.valid("json");
      return c.json(
        await searchMailbox(db, c.get("auth").accountId, id, criteria, deps.store),
        200,
      );
    },
  );

  return app;
}

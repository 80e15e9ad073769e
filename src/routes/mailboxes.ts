/**
 * Mailbox routes: list with counts, create, rename/subscribe, delete. Changes to one's own
 * mailboxes need only the "read" scope; another account's mailbox id is 404.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  Mailbox,
  MailboxCreateRequest,
  MailboxList,
  MailboxUpdateRequest,
} from "../../schemas/api_mail.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  createMailbox,
  deleteMailbox,
  getMailbox,
  listMailboxes,
  updateMailbox,
} from "../services/mailboxes.ts";

export const IdParam = z.object({
  id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).meta({
    param: { name: "id", in: "path" },
    description: "The mailbox's id.",
    example: 1,
  }),
});

export function mailboxRoutes(deps: Deps) {
  const app = newRouter();
  // In Hono "/mailboxes/*" also matches "/mailboxes" itself: one middleware covers both.
  app.use("/mailboxes/*", requireAuth(deps));
  const tags = ["mailboxes"];

  app.openapi(
    createRoute({
      method: "get",
      path: "/mailboxes",
      operationId: "listMailboxes",
      tags,
      summary: "The account's mailboxes, with message counts",
      description:
        "The account's mailboxes with their role (inbox, sent, drafts, trash, junk, archive), " +
        "subscription and message counts (total, unread, bytes).",
      security: bearer,
      responses: { 200: ok("Mailboxes", MailboxList), ...problems(401, 403) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json({ items: await listMailboxes(deps.store.db, auth.accountId) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/mailboxes",
      operationId: "createMailbox",
      tags,
      summary: "Create a mailbox (missing parents are created too)",
      description:
        "Creates a mailbox by its full name (`/` separates levels); missing parents are created " +
        "too. Names are unique per account (409), and so are special-use roles (409 " +
        "`role_taken`).",
      security: bearer,
      request: { body: json(MailboxCreateRequest) },
      responses: { 201: ok("Created", Mailbox), ...problems(400, 401, 403, 409, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { name, role } = c.req.valid("json");
      return c.json(await createMailbox(deps, auth.accountId, name, role ?? null), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/mailboxes/{id}",
      operationId: "getMailbox",
      tags,
      summary: "One mailbox, with message counts",
      description:
        "One mailbox with its counts and IMAP state (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ).",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("Mailbox", Mailbox), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await getMailbox(deps.store.db, auth.accountId, c.req.valid("param").id), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/mailboxes/{id}",
      operationId: "updateMailbox",
      tags,
      summary: "Rename (with its sub-mailboxes), (un)subscribe, or set a mailbox's retention",
      description: "Special-use mailboxes cannot be renamed (`mailbox_protected`). " +
        "`retentionDays` deletes messages that many days after they arrived in the mailbox " +
        "(a background slice; they stay recoverable for the recovery window, " +
        "`GET /v1/recovery`); null keeps them for ever.",
      security: bearer,
      request: { params: IdParam, body: json(MailboxUpdateRequest) },
      responses: { 200: ok("Updated", Mailbox), ...problems(400, 401, 403, 404, 409, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { id } = c.req.valid("param");
      return c.json(await updateMailbox(deps, auth.accountId, id, c.req.valid("json")), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/mailboxes/{id}",
      operationId: "deleteMailbox",
      tags,
      summary: "Delete a mailbox",
      description: "Refused for special-use mailboxes (`mailbox_protected`) and, without " +
        "`force=true`, for one holding messages or sub-mailboxes (`mailbox_not_empty`); " +
        "`force=true` purges their messages for good.",
      security: bearer,
      request: {
        params: IdParam,
        query: z.object({
          force: z.enum(["true", "false"]).optional().meta({
            description: "Purge the messages and sub-mailboxes too.",
          }),
        }),
      },
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404, 409, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { id } = c.req.valid("param");
      await deleteMailbox(deps, auth.accountId, id, c.req.valid("query").force === "true");
      return c.body(null, 204);
    },
  );

  return app;
}

/**
 * The recovery window over HTTP (services/recovery.ts): the signed-in account's deleted mail
 * that can still come back, and the restore of one message into its former mailbox (or the
 * Inbox) with a new UID. Each account sees only its own rows.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/authenticate.ts";
import { requireScope } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { listRecoverable, restoreRecoverable } from "../services/recovery.ts";

const Flags = z.object({
  seen: z.boolean().meta({ description: "Read (IMAP \\\\Seen)." }),
  flagged: z.boolean().meta({ description: "Starred (IMAP \\\\Flagged)." }),
  answered: z.boolean().meta({ description: "Replied to (IMAP \\\\Answered)." }),
  draft: z.boolean().meta({ description: "A draft (IMAP \\\\Draft)." }),
});

const RecoverableMessage = z.object({
  id: z.number().int().meta({ description: "The recovery entry's id (not the message's)." }),
  mailboxId: z.number().int().nullable().meta({
    description: "The mailbox it was in; null when that mailbox is gone (restores to Inbox).",
  }),
  mailboxName: z.string().meta({ description: "The name of that mailbox then." }),
  messageId: z.number().int().meta({ description: "Its id before it was deleted." }),
  subject: z.string().meta({ description: "The Subject (empty when absent)." }),
  from: z.string().meta({ description: "The From address." }),
  size: z.number().int().meta({ description: "Size of the raw message in bytes." }),
  receivedAt: z.string().meta({ description: "Its internal date (ISO 8601), kept on restore." }),
  deletedAt: z.string().meta({ description: "When it was deleted (ISO 8601)." }),
  expiresAt: z.string().meta({ description: "When it stops being recoverable (ISO 8601)." }),
  flags: Flags.meta({ description: "Its flags, given back on restore." }),
  keywords: z.array(z.string()).meta({ description: "Its keywords, given back on restore." }),
}).meta({ id: "RecoverableMessage" });

const RecoverablePage = z.object({
  items: z.array(RecoverableMessage).meta({ description: "Newest deletion first." }),
  nextCursor: z.string().nullable().meta({ description: "Pass as `cursor` for the next page." }),
}).meta({ id: "RecoverablePage" });

const Restored = z.object({
  messageId: z.number().int().meta({ description: "The restored message's new id." }),
  mailboxId: z.number().int().meta({ description: "The mailbox it is in now." }),
  uid: z.number().int().meta({ description: "Its new IMAP UID there." }),
}).meta({ id: "RestoredMessage" });

export function recoveryRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/recovery", requireAuth(deps));
  app.use("/recovery/*", requireAuth(deps));
  const tags = ["mail"];
  const window = "Deleted mail (IMAP EXPUNGE, POP3 DELE, REST delete from Trash or purge, " +
    "JMAP destroy, a mailbox deleted with its mail, retention) stays recoverable for " +
    "POSTERN_RECOVERY_DAYS (default 14) and does not count against the quota meanwhile.";

  app.openapi(
    createRoute({
      method: "get",
      path: "/recovery",
      operationId: "listRecoverable",
      tags,
      summary: "Deleted messages that can still be restored",
      description: window,
      security: bearer,
      request: {
        query: z.object({
          limit: z.coerce.number().int().min(1).max(200).default(50).meta({
            description: "Entries per page (1-200, default 50).",
          }),
          cursor: z.string().max(64).optional().meta({
            description: "The `nextCursor` of the previous page.",
          }),
        }),
      },
      responses: { 200: ok("A page", RecoverablePage), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const q = c.req.valid("query");
      return c.json(await listRecoverable(deps.store.db, deps.config, auth.accountId, q), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/recovery/{id}/restore",
      operationId: "restoreRecoverable",
      tags,
      summary: "Restore a deleted message into its former mailbox (or the Inbox)",
      description: window + " The message comes back byte for byte with its flags, " +
        "keywords and internal date and a new UID; 507 `quota_exceeded` when it no longer fits.",
      security: bearer,
      request: {
        params: z.object({
          id: z.coerce.number().int().positive().meta({
            param: { name: "id", in: "path" },
            description: "The recovery entry's id.",
          }),
        }),
      },
      responses: { 200: ok("Restored", Restored), ...problems(401, 403, 404, 409, 422, 507) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(
        await restoreRecoverable(deps, auth.accountId, c.req.valid("param").id),
        200,
      );
    },
  );
  return app;
}

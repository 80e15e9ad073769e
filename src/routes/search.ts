/**
 * Search route: full-text words (`q`), field words (`from`, `to`, `subject`), an arrival-date
 * range, attachment presence and a mailbox, all combined with AND over the caller's messages
 * only. User text is always searched for literally (see services/search.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { MessagePage } from "../../schemas/api_mail.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { hasCriteria, searchMessages } from "../services/search.ts";
import { catchUpSearchIndex } from "../services/search_index.ts";
import { PageQuery } from "./messages.ts";

const words = (description: string) => z.string().max(500).optional().meta({ description });

// A calendar date (midnight UTC) or a full ISO 8601 date-time with an offset.
const when = (description: string) =>
  z.union([z.iso.date(), z.iso.datetime({ offset: true })]).optional().meta({ description });

const SearchQuery = z.object({
  q: words("Words anywhere (subject, addresses, body); a trailing `*` matches a prefix."),
  from: words("Words in the From name or address."),
  to: words("Words in the To/Cc names or addresses."),
  subject: words("Words in the subject."),
  after: when("Arrived at or after (ISO 8601 date or date-time)."),
  before: when("Arrived before (ISO 8601 date or date-time)."),
  hasAttachment: z.enum(["true", "false"]).optional().meta({
    description: "Only messages with (`true`) or without (`false`) attachments.",
  }),
  mailboxId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().meta({
    description: "Only this mailbox.",
  }),
  ...PageQuery,
});

export function searchRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/search", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/search",
      operationId: "searchMessages",
      tags: ["search"],
      summary: "Search your messages",
      description: "At least one criterion is required. With words, results are newest-" +
        "arrived first by id; with only filters, by internal date.",
      security: bearer,
      request: { query: SearchQuery },
      responses: { 200: ok("Matches", MessagePage), ...problems(400, 401, 403, 404, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const q = c.req.valid("query");
      const query = {
        ...q,
        after: q.after === undefined ? undefined : Date.parse(q.after),
        before: q.before === undefined ? undefined : Date.parse(q.before),
        hasAttachment: q.hasAttachment === undefined ? undefined : q.hasAttachment === "true",
      };
      if (!hasCriteria(query)) {
        throw new AppError(422, "validation_failed", "give at least one search criterion", [
          {
            path: "query",
            message:
              "one of q, from, to, subject, after, before, hasAttachment, mailboxId is required",
          },
        ]);
      }
      // Messages stored since the indexer's last batch are indexed first: nothing is missed.
      await catchUpSearchIndex(deps.store);
      return c.json(await searchMessages(deps.store.db, auth.accountId, query), 200);
    },
  );
  return app;
}

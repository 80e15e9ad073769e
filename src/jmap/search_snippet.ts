/**
 * SearchSnippet/get (RFC 8621 section 5): the subject and a piece of the body of each Email with
 * the words of the filter's `text`, `subject` and `body` conditions marked by `<mark>`, as HTML
 * (everything else escaped, so a snippet is safe to insert into a page).
 */
import { getMessage } from "../services/messages.ts";
import { AppError } from "../errors.ts";
import { account, type Ctx } from "./context.ts";
import { parseEmailId } from "./ids.ts";
import { invalidArguments, type Json } from "./protocol.ts";

/** The search words of a filter tree (not under NOT: those match what is absent). */
export function filterWords(filter: Json, negated = false): string[] {
  if (typeof filter !== "object" || filter === null) return [];
  if (Array.isArray(filter.conditions)) {
    const under = negated || filter.operator === "NOT";
    return filter.conditions.flatMap((c: Json) => filterWords(c, under));
  }
  if (negated) return [];
  return ["text", "subject", "body"].flatMap((k) =>
    typeof filter[k] === "string" ? filter[k].split(/[\s\p{Cc}]+/u) : []
  ).map((w: string) => w.replace(/\*+$/, "")).filter((w: string) => /[\p{L}\p{N}]/u.test(w));
}

const escape = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** `text` with every occurrence of the words marked, HTML-escaped; null when none occurs. */
export function mark(text: string, words: string[]): string | null {
  if (words.length === 0) return null;
  const pattern = new RegExp(
    words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"),
    "giu",
  );
  let out = "";
  let last = 0;
  let hit = false;
  for (const m of text.matchAll(pattern)) {
    out += escape(text.slice(last, m.index)) + `<mark>${escape(m[0])}</mark>`;
    last = m.index! + m[0].length;
    hit = true;
  }
  return hit ? out + escape(text.slice(last)) : null;
}

/** Up to 255 characters of the body around the first word found (section 5: `preview`). */
function previewSnippet(body: string, words: string[]): string | null {
  const flat = body.replace(/\s+/g, " ");
  const lower = flat.toLowerCase();
  const at = Math.min(
    ...words.map((w) => lower.indexOf(w.toLowerCase())).filter((i) => i >= 0),
  );
  if (!Number.isFinite(at)) return null;
  const start = Math.max(0, at - 60);
  return mark(flat.slice(start, start + 255), words);
}

export async function searchSnippetGet(ctx: Ctx, args: Record<string, Json>) {
  const accountId = account(ctx, args);
  if (!Array.isArray(args.emailIds) || !args.emailIds.every((i: Json) => typeof i === "string")) {
    throw invalidArguments('"emailIds" must be an array of ids');
  }
  if (args.emailIds.length > ctx.limits.maxObjectsInGet) {
    throw invalidArguments(`at most ${ctx.limits.maxObjectsInGet} emailIds`);
  }
  const words = filterWords(args.filter);
  const list: Record<string, Json>[] = [];
  const notFound: string[] = [];
  for (const emailId of args.emailIds as string[]) {
    const id = parseEmailId(emailId);
    try {
      if (id === undefined) throw new AppError(404, "not_found", "email not found");
      const msg = await getMessage(ctx.deps.store.db, accountId, id);
      const body = msg.text ?? (msg.html ?? "").replace(/<[^>]*>/g, " ");
      list.push({
        emailId,
        subject: mark(msg.subject, words),
        preview: previewSnippet(body, words),
      });
    } catch (e) {
      if (!(e instanceof AppError) || e.status !== 404) throw e;
      notFound.push(emailId);
    }
  }
  return {
    accountId: args.accountId,
    list,
    notFound: notFound.length ? notFound : null,
  };
}

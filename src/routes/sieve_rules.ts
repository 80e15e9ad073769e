/**
 * `/v1/sieve/rules` and `/v1/sieve/vacation`: filtering and the out-of-office reply as simple
 * JSON, compiled to a managed Sieve script that runs before the account's own active script
 * (services/sieve_rules.ts). Reads need `read`; writes need `send` (rules can forward and
 * answer mail).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { type SieveRule, SieveRules, SieveVacation } from "../../schemas/sieve.ts";
import type { FieldError } from "../../schemas/problem.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import { readManaged, saveManaged } from "../services/sieve_rules.ts";

const tags = ["sieve"];

const RulesAnswer = SieveRules.extend({
  script: z.string().meta({
    description: "The Sieve these rules and the vacation settings compile to (read-only).",
  }),
});

const VacationAnswer = SieveVacation.extend({
  script: z.string().meta({ description: "The managed Sieve script (read-only)." }),
});

const DEFAULT_VACATION = { enabled: false, body: "", days: 7, addresses: [] as string[] };

/** What the schema cannot say: which fields each condition needs. */
function ruleProblems(rules: SieveRule[]): FieldError[] {
  const out: FieldError[] = [];
  rules.forEach((rule, i) =>
    rule.conditions.forEach((c, j) => {
      const path = `rules.${i}.conditions.${j}`;
      const numeric = c.op === "over" || c.op === "under";
      if (c.field === "size" && !numeric) {
        out.push({ path: `${path}.op`, message: "size takes over or under" });
      }
      if (numeric && c.field !== "size" && c.field !== "spam") {
        out.push({ path: `${path}.op`, message: "over and under are for size and spam" });
      }
      if (numeric && typeof c.value !== "number") {
        out.push({ path: `${path}.value`, message: "a number is needed" });
      }
      if (c.field === "header" && !c.header) {
        out.push({ path: `${path}.header`, message: "the header field name is needed" });
      }
      if (c.op === "exists" && c.field !== "header") {
        out.push({ path: `${path}.op`, message: "exists is for header conditions" });
      }
      const text = !numeric && c.op !== "exists" && c.field !== "spam";
      if (text && typeof c.value !== "string") {
        out.push({ path: `${path}.value`, message: "a string is needed" });
      }
    })
  );
  return out;
}

export function sieveRuleRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/sieve/rules", requireAuth(deps));
  app.use("/sieve/vacation", requireAuth(deps));

  app.openapi(
    createRoute({
      method: "get",
      path: "/sieve/rules",
      operationId: "getSieveRules",
      tags,
      summary: "Your filter rules (simple form)",
      description: "The ordered rules, and the Sieve they compile to. They run at delivery " +
        "before your own active script; a rule's `stop` ends filtering for the message.",
      security: bearer,
      responses: { 200: ok("Rules", RulesAnswer), ...problems(401, 403) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const m = await readManaged(deps, auth.accountId);
      return c.json({ rules: m.rules, script: m.script }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/sieve/rules",
      operationId: "putSieveRules",
      tags,
      summary: "Replace your filter rules (simple form)",
      description: "Conditions on from, to, subject, a header, size or the spam verdict; " +
        "actions fileinto, flag, redirect, discard, reject and stop. The whole list is replaced.",
      security: bearer,
      request: { body: json(SieveRules) },
      responses: { 200: ok("Saved", RulesAnswer), ...problems(401, 403, 409, 413, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const { rules } = c.req.valid("json");
      const bad = ruleProblems(rules);
      if (bad.length) throw new AppError(422, "validation_failed", "invalid rules", bad);
      const m = await saveManaged(deps, auth.accountId, { rules });
      return c.json({ rules: m.rules, script: m.script }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/sieve/vacation",
      operationId: "getSieveVacation",
      tags,
      summary: "Your vacation reply (out of office)",
      description: "The settings as saved (disabled with an empty body when never set).",
      security: bearer,
      responses: { 200: ok("Vacation", VacationAnswer), ...problems(401, 403) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const m = await readManaged(deps, auth.accountId);
      return c.json({ ...(m.vacation ?? DEFAULT_VACATION), script: m.script }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/sieve/vacation",
      operationId: "putSieveVacation",
      tags,
      summary: "Set your vacation reply",
      description: "An automatic reply (RFC 5230) between `from` and `until`, at most once per " +
        "sender every `days` days; never to mailing lists, automatic mail, bounces, or mail " +
        "that does not name one of your addresses in To or Cc (RFC 3834).",
      security: bearer,
      request: { body: json(SieveVacation) },
      responses: { 200: ok("Saved", VacationAnswer), ...problems(401, 403, 409, 413, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const vacation = c.req.valid("json");
      if (
        vacation.from && vacation.until && Date.parse(vacation.until) <= Date.parse(vacation.from)
      ) {
        throw new AppError(422, "validation_failed", "invalid vacation", [
          { path: "until", message: "must be after from" },
        ]);
      }
      const m = await saveManaged(deps, auth.accountId, { vacation });
      return c.json({ ...m.vacation!, script: m.script }, 200);
    },
  );
  return app;
}

/**
 * `/v1/sieve/*`: an account's Sieve scripts (RFC 5228) over REST, the contract the bridge's
 * ManageSieve server (RFC 5804) is built on. Reads need the `read` scope; writes need `send`,
 * since a script can redirect and answer mail in the account's name. A session, the bridge's
 * mail session (after `/v1/bridge/auth`) or an API key may call them; each sees only its own
 * account's scripts. Refusals carry the contract's extra members (`errors` with line and column,
 * `limit`), see schemas/sieve.ts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import {
  SieveCapabilities,
  SieveProblem,
  SieveScript,
  SieveScriptBody,
  SieveScriptSummary,
} from "../../schemas/sieve.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { errorHandler, problemBody } from "../http/problem.ts";
import { type AppEnv, bearer, json, newRouter, ok, problems } from "../http/router.ts";
import { EXTENSIONS } from "../sieve/validate.ts";
import {
  checkScriptFor,
  deleteScript,
  getScript,
  listScripts,
  putScript,
  renameScript,
  setActive,
  SieveRefusal,
} from "../services/sieve_scripts.ts";

const tags = ["sieve"];

const NameParam = z.object({
  name: z.string().min(1).max(1024).meta({
    description: "The script's name (RFC 5804 section 1.6: UTF-8 in NFC, no control " +
      "characters, at most 128 characters); percent-encode `/` and other reserved characters.",
    param: { name: "name", in: "path" },
  }),
});

/** The refusals of a script write, with the contract's members. */
const sieveProblems = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, {
    description: ({
      404: "No script of that name (`sieve_script_not_found`)",
      409: "`sieve_name_taken` or `sieve_script_active`",
      413: "Over the size or count limit (`sieve_quota`, with `limit`)",
      422: "The script is not valid Sieve (`sieve_invalid`, every problem with line and column)",
    } as Record<number, string>)[s] ?? "Error",
    content: { "application/problem+json": { schema: SieveProblem } },
  }]));

/** Answers a SieveRefusal as problem+json with its extra members; anything else as usual. */
export function sieveErrorHandler(deps: Deps) {
  const fallback = errorHandler(deps.logger);
  return (err: Error, c: Context<AppEnv>): Response => {
    if (!(err instanceof SieveRefusal)) return fallback(err, c);
    const instance = new URL(c.req.url).pathname;
    const body = { ...problemBody(err.status, err.code, err.message, { instance }), ...err.extra };
    return new Response(JSON.stringify(body), {
      status: err.status,
      headers: { "content-type": "application/problem+json" },
    });
  };
}

export function sieveRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/sieve/*", requireAuth(deps));
  app.onError(sieveErrorHandler(deps));

  app.openapi(
    createRoute({
      method: "get",
      path: "/sieve/capabilities",
      operationId: "getSieveCapabilities",
      tags,
      summary: "What Sieve this server runs",
      description: "The extensions the interpreter implements and the limits on scripts, as " +
        "ManageSieve announces them (RFC 5804 section 1.7).",
      security: bearer,
      responses: { 200: ok("Capabilities", SieveCapabilities), ...problems(401, 403) },
    }),
    (c) => {
      requireScope(c.get("auth"), "read");
      return c.json({
        extensions: [...EXTENSIONS],
        maxRedirects: deps.config.sieveMaxRedirects,
        maxScriptBytes: deps.config.sieveMaxScriptBytes,
        maxScripts: deps.config.sieveMaxScripts,
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/sieve/scripts",
      operationId: "listSieveScripts",
      tags,
      summary: "Your Sieve scripts",
      description: "Every script of the account, by name; at most one is `active`.",
      security: bearer,
      responses: {
        200: ok(
          "Scripts",
          z.object({
            scripts: z.array(SieveScriptSummary).meta({ description: "By name." }),
          }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json({ scripts: await listScripts(deps.store.db, auth.accountId) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/sieve/scripts/{name}",
      operationId: "getSieveScript",
      tags,
      summary: "One Sieve script's text",
      description: "The script as stored, and whether it is the active one.",
      security: bearer,
      request: { params: NameParam },
      responses: {
        200: ok("The script", SieveScript),
        ...problems(401, 403),
        ...sieveProblems(404),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      return c.json(await getScript(deps.store.db, auth.accountId, c.req.valid("param").name), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/sieve/scripts/{name}",
      operationId: "putSieveScript",
      tags,
      summary: "Store a Sieve script (create or replace)",
      description: "The script is validated first: a script with errors is refused with every " +
        "problem's line, column and reason (`sieve_invalid`) and nothing is stored. Replacing " +
        "the active script changes what runs at the next delivery. Needs the `send` scope.",
      security: bearer,
      request: { params: NameParam, body: json(SieveScriptBody) },
      responses: {
        200: ok("Stored", SieveScriptSummary),
        ...problems(400, 401, 403),
        ...sieveProblems(413, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const { name } = c.req.valid("param");
      return c.json(await putScript(deps, auth.accountId, name, c.req.valid("json").script), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/sieve/check",
      operationId: "checkSieveScript",
      tags,
      summary: "Validate a Sieve script without storing it",
      description: "What ManageSieve's CHECKSCRIPT does (RFC 5804 section 2.12).",
      security: bearer,
      request: { body: json(SieveScriptBody) },
      responses: {
        200: ok(
          "Valid",
          z.object({
            ok: z.literal(true).meta({ description: "Always true (errors are 422)." }),
            warnings: z.array(z.string()).meta({
              description: "Things that work but look wrong (e.g. fileinto a mailbox you " +
                "do not have: such mail is kept in the Inbox).",
            }),
          }),
        ),
        ...problems(401, 403),
        ...sieveProblems(413, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const warnings = await checkScriptFor(deps, auth.accountId, c.req.valid("json").script);
      return c.json({ ok: true as const, warnings }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/sieve/scripts/{name}/rename",
      operationId: "renameSieveScript",
      tags,
      summary: "Rename a Sieve script",
      description: "An active script stays active under its new name (RFC 5804 section 2.11.1).",
      security: bearer,
      request: {
        params: NameParam,
        body: json(z.object({ newName: z.string().meta({ description: "The new name." }) })),
      },
      responses: {
        200: ok(
          "Renamed",
          z.object({
            name: z.string().meta({ description: "The new name." }),
            active: z.boolean().meta({ description: "Whether it is the active script." }),
          }),
        ),
        ...problems(400, 401, 403),
        ...sieveProblems(404, 409),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const { name } = c.req.valid("param");
      const { newName } = c.req.valid("json");
      await renameScript(deps.store, auth.accountId, name, newName, deps.clock.now());
      const renamed = await getScript(deps.store.db, auth.accountId, newName);
      return c.json({ name: renamed.name, active: renamed.active }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/sieve/scripts/{name}",
      operationId: "deleteSieveScript",
      tags,
      summary: "Delete a Sieve script",
      description: "The active script cannot be deleted (`sieve_script_active`, RFC 5804 " +
        "section 2.10): deactivate it first.",
      security: bearer,
      request: { params: NameParam },
      responses: {
        204: { description: "Deleted" },
        ...problems(401, 403),
        ...sieveProblems(404, 409),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      await deleteScript(deps.store, auth.accountId, c.req.valid("param").name);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/sieve/active",
      operationId: "setActiveSieveScript",
      tags,
      summary: "Choose the active Sieve script",
      description: "The named script runs at every delivery from now on, in place of the one " +
        "active before; `null` turns user filtering off (RFC 5804 section 2.8).",
      security: bearer,
      request: {
        body: json(z.object({
          name: z.string().nullable().meta({ description: "A script's name, or null for none." }),
        })),
      },
      responses: {
        200: ok(
          "Active",
          z.object({
            active: z.string().nullable().meta({
              description: "The active script's name, or null when none is.",
            }),
          }),
        ),
        ...problems(401, 403),
        ...sieveProblems(404),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "send");
      const { name } = c.req.valid("json");
      await setActive(deps.store, auth.accountId, name);
      return c.json({ active: name }, 200);
    },
  );

  return app;
}

/**
 * Shared pieces of every route module: the Hono environment (what middleware puts on the
 * context), a router factory whose validation failures become problem+json, and the reusable
 * OpenAPI fragments (error responses, security).
 */
import { OpenAPIHono, type z } from "@hono/zod-openapi";
import { Problem } from "../../schemas/problem.ts";
import { validationProblem } from "./problem.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { ReadScope } from "../store/read_scope.ts";

export interface AppEnv {
  Variables: {
    auth: AuthContext;
    /** Set by `requireAuth(deps, { optimistic })`: reads the write job re-checks. */
    reads?: ReadScope;
    requestId: string;
    clientIp: string;
  };
}

export function newRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        return validationProblem(result.error, result.target, new URL(c.req.url).pathname);
      }
    },
  });
}

/** A required JSON request body of this schema. */
export const json = <T extends z.ZodType>(schema: T) => ({
  content: { "application/json": { schema } },
  required: true,
});

/** A JSON response of this schema. */
export const ok = <T extends z.ZodType>(description: string, schema: T) => ({
  description,
  content: { "application/json": { schema } },
});

const problemContent = { "application/problem+json": { schema: Problem } };

/** Error responses to list on a route, by status. */
export function problems(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found (or not yours)",
    409: "Conflict",
    413: "Too large",
    422: "Invalid fields (every one listed)",
    429: "Too many attempts",
    507: "Quota exceeded",
  };
  return Object.fromEntries(
    statuses.map((s) => [s, { description: descriptions[s] ?? "Error", content: problemContent }]),
  );
}

/** The security requirement for routes that need a bearer token (JWT or API key). */
export const bearer = [{ bearer: [] as string[] }];

/** Standard problems for an authenticated route. */
export const AUTHED = [400, 401, 403, 422] as const;

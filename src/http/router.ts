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
import { withSyncValidation } from "./sync_parse.ts";

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
  return withSyncValidation(
    new OpenAPIHono<AppEnv>({
      defaultHook: (result, c) => {
        if (!result.success) {
          return validationProblem(result.error, result.target, new URL(c.req.url).pathname);
        }
      },
    }),
  );
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

/** A problem+json example per status, as the error handler writes them (http/problem.ts). */
const PROBLEM_EXAMPLES: Record<number, { code: string; title: string; detail: string }> = {
  400: { code: "invalid_json", title: "Bad Request", detail: "the body is not valid JSON" },
  401: {
    code: "unauthorized",
    title: "Unauthorized",
    detail: "a bearer token (access token or API key) is required",
  },
  403: {
    code: "insufficient_scope",
    title: "Forbidden",
    detail: 'this credential lacks the "send" scope',
  },
  404: { code: "not_found", title: "Not Found", detail: "message not found" },
  409: { code: "conflict", title: "Conflict", detail: "the resource changed or already exists" },
  413: {
    code: "payload_too_large",
    title: "Content Too Large",
    detail: "the request body exceeds 26214400 bytes",
  },
  429: {
    code: "too_many_requests",
    title: "Too Many Requests",
    detail: "too many failed sign-ins; try again later",
  },
  507: {
    code: "quota_exceeded",
    title: "Insufficient Storage",
    detail: "the mailbox quota would be exceeded",
  },
};

function problemExample(status: number) {
  if (status === 422) {
    return {
      type: "https://postern.dev/problems/validation_failed",
      title: "Unprocessable Content",
      status,
      code: "validation_failed",
      detail: "the request has invalid fields",
      instance: "/v1/emails",
      errors: [
        { path: "from", message: "not a valid email address" },
        { path: "to", message: "at least one recipient (to, cc or bcc) is required" },
      ],
    };
  }
  const p = PROBLEM_EXAMPLES[status] ?? { code: "error", title: "Error", detail: "an error" };
  return { type: `https://postern.dev/problems/${p.code}`, status, ...p };
}

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
    statuses.map((s) => [s, {
      description: descriptions[s] ?? "Error",
      content: {
        "application/problem+json": { schema: Problem, example: problemExample(s) },
      },
    }]),
  );
}

/**
 * Security requirements (schemes registered in src/app.ts `SECURITY_SCHEMES`). Most routes take
 * either credential in `Authorization: Bearer`: an access token from sign-in or an API key.
 */
export const bearer: Record<string, string[]>[] = [{ bearer: [] }, { apiKey: [] }];

/** Routes that mint or change credentials: a signed-in session only, never an API key. */
export const sessionOnly: Record<string, string[]>[] = [{ bearer: [] }];

/** The bridge's own routes: an API key with the `bridge` scope. */
export const bridgeKey: Record<string, string[]>[] = [{ apiKey: ["bridge"] }];

/** Standard problems for an authenticated route. */
export const AUTHED = [400, 401, 403, 422] as const;

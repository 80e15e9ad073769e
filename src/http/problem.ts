/**
 * The one HTTP error boundary: every thrown error and every failed validation becomes an RFC 9457
 * problem+json response with a stable `code`. Server faults are logged and never leak internals.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ZodError } from "zod";
import type { FieldError, Problem } from "../../schemas/problem.ts";
import { AppError, type ErrorCode } from "../errors.ts";
import type { Logger } from "../ports.ts";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
  507: "Insufficient Storage",
};

/** The problem+json body (RFC 9457) of an error; also what a direct in-process call answers. */
export function problemBody(
  status: number,
  code: ErrorCode | string,
  detail: string,
  extra: { errors?: FieldError[]; instance?: string } = {},
): Problem {
  return {
    type: `https://postern.dev/problems/${code}`,
    title: TITLES[status] ?? "Error",
    status,
    code,
    detail,
    ...(extra.instance ? { instance: extra.instance } : {}),
    ...(extra.errors ? { errors: extra.errors } : {}),
  };
}

export function problemResponse(
  status: number,
  code: ErrorCode | string,
  detail: string,
  extra: { errors?: FieldError[]; instance?: string; headers?: Record<string, string> } = {},
): Response {
  const body = problemBody(status, code, detail, extra);
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...extra.headers },
  });
}

export function zodFieldErrors(error: ZodError, prefix = ""): FieldError[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join("."),
    message: issue.message,
  }));
}

export function validationProblem(error: ZodError, target: string, instance?: string): Response {
  const prefix = target === "json" ? "" : target;
  return problemResponse(422, "validation_failed", "the request has invalid fields", {
    errors: zodFieldErrors(error, prefix),
    instance,
  });
}

export function errorHandler(logger: Logger) {
  return (err: Error, c: Context): Response => {
    const instance = new URL(c.req.url).pathname;
    if (err instanceof AppError) {
      return problemResponse(err.status, err.code, err.message, {
        errors: err.fields,
        instance,
        headers: err.headers,
      });
    }
    if (err instanceof HTTPException) {
      const status = err.status;
      const message = err.message || TITLES[status] || "error";
      const code = status === 413
        ? "payload_too_large"
        : /json/i.test(message)
        ? "invalid_json"
        : status === 401
        ? "unauthorized"
        : "bad_request";
      return problemResponse(status, code, message, { instance });
    }
    logUnhandled(logger, { path: instance, method: c.req.method }, err);
    return problemResponse(500, "internal", "an internal error occurred", { instance });
  };
}

/** An error no handler expected, logged with the head of its stack (the answer says only 500). */
export function logUnhandled(
  logger: Logger,
  where: { path: string; method: string; direct?: boolean },
  err: unknown,
): void {
  const e = err as Error | undefined;
  logger.log("error", "http.unhandled_error", {
    ...where,
    error: e?.message,
    stack: e?.stack?.split("\n").slice(0, 6).join(" | "),
  });
}

/**
 * Request validation without zod's asynchronous path. The OpenAPI router validates every body,
 * query and header through `schema.safeParseAsync` (@hono/zod-validator), and zod 4 runs an
 * asynchronous parse without its compiled object fast path and with a promise per field: the
 * send API's 4 KB JSON body took 130 µs to validate that way and 20 µs through `safeParse`
 * (bench/run.ts section (a), about 7% of the gateway's main-thread CPU per send). No schema of
 * ours has an asynchronous refinement or transform, so the synchronous parse gives the same
 * result; should one ever get one, zod's synchronous parse throws `$ZodAsyncError` and the
 * asynchronous parse runs as before.
 */
import { z } from "@hono/zod-openapi";

const patched = new WeakSet<object>();

type Parser = {
  safeParse(data: unknown, params?: unknown): unknown;
  safeParseAsync(data: unknown, params?: unknown): Promise<unknown>;
};

/** Makes this schema instance's `safeParseAsync` try the synchronous parse first. */
export function syncFirst(schema: unknown): void {
  if (typeof schema !== "object" || schema === null || patched.has(schema)) return;
  const s = schema as Parser;
  if (typeof s.safeParse !== "function" || typeof s.safeParseAsync !== "function") return;
  patched.add(schema);
  const asyncParse = s.safeParseAsync;
  s.safeParseAsync = (data, params) => {
    try {
      return Promise.resolve(s.safeParse(data, params));
    } catch (e) {
      if (e instanceof z.core.$ZodAsyncError) return asyncParse.call(s, data, params);
      throw e;
    }
  };
}

/** A route's request schemas (what the router validates), each made synchronous-first. */
export function syncFirstRequest(route: { request?: Record<string, unknown> }): void {
  const request = route.request;
  if (!request) return;
  for (const part of ["query", "params", "headers", "cookies"]) syncFirst(request[part]);
  const content = (request.body as { content?: Record<string, { schema?: unknown }> } | undefined)
    ?.content;
  for (const media of Object.values(content ?? {})) syncFirst(media.schema);
}

/** Registers routes of `app` with synchronous-first validation (see the module header). */
export function withSyncValidation<
  A extends { openapi: (route: never, ...rest: never[]) => unknown },
>(app: A): A {
  const register = app.openapi.bind(app) as (route: unknown, ...rest: unknown[]) => unknown;
  (app as { openapi: unknown }).openapi = (route: unknown, ...rest: unknown[]) => {
    syncFirstRequest(route as { request?: Record<string, unknown> });
    return register(route, ...rest);
  };
  return app;
}

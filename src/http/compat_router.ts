/**
 * A router for an API surface that copies another provider's (Resend, Postmark): its clients
 * read that provider's error body, not problem+json, so every error of the group — thrown,
 * refused by validation, or from authentication — is rendered by the surface's own `render`.
 * The error is first put through the gateway's one handler (http/problem.ts), so logging and
 * the status and code of each error stay exactly as on Postern's own API.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Logger } from "../ports.ts";
import type { AppEnv } from "./router.ts";
import { errorHandler, zodFieldErrors } from "./problem.ts";
import { withSyncValidation } from "./sync_parse.ts";

/** Field errors in one line: other providers' error bodies carry a single message. */
export const describeFields = (fields: { path: string; message: string }[]) =>
  fields.map((f) => (f.path ? `${f.path}: ${f.message}` : f.message)).join("; ");

export type CompatRender = (status: number, code: string, message: string) => Response;

export function compatRouter(logger: Logger, render: CompatRender): OpenAPIHono<AppEnv> {
  const app = withSyncValidation(
    new OpenAPIHono<AppEnv>({
      defaultHook: (result) => {
        if (!result.success) {
          return render(422, "validation_failed", describeFields(zodFieldErrors(result.error)));
        }
      },
    }),
  );
  const handle = errorHandler(logger);
  app.onError(async (err, c) => {
    const problem = await handle(err, c).json();
    const fields = (problem.errors ?? []) as { path: string; message: string }[];
    return render(
      problem.status,
      problem.code,
      fields.length ? describeFields(fields) : problem.detail,
    );
  });
  return app;
}

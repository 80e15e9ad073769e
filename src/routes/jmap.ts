/**
 * JMAP over HTTP (RFC 8620, RFC 8621): the Session resource at `/.well-known/jmap` (section 2),
 * the API endpoint (section 3.1: one POST carrying a Request of method calls), blob upload and
 * download (section 6) and push by EventSource (section 7.3). Request-level errors are RFC 7807
 * problems with the JMAP error URNs (section 3.6.1); everything inside a request answers per
 * method call (src/jmap/api.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { cors } from "hono/cors";
import { streamSSE } from "hono/streaming";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { newRouter } from "../http/router.ts";
import { Waker } from "../http/waker.ts";
import { runRequest } from "../jmap/api.ts";
import { JmapAuth } from "../jmap/auth.ts";
import { blobBytes } from "../jmap/blobs.ts";
import type { Ctx } from "../jmap/context.ts";
import { accountIdOf, parseBlobId } from "../jmap/ids.ts";
import { jmapLimits } from "../jmap/limits.ts";
import { parseRequest, type RequestProblem } from "../jmap/protocol.ts";
import { pingSeconds, pushStates, pushTypes, stateChange } from "../jmap/push.ts";
import { JMAP_PATHS, sessionObject } from "../jmap/session.ts";
import { contentDisposition, safeContentType } from "../services/messages.ts";
import { storeUpload } from "../transactional/uploads.ts";

const POLL_MS = 2_000;
/** EventSource streams one account may hold open at once (in this process). */
const MAX_STREAMS = 10;

const jmapProblem = (p: RequestProblem, status = p.status) =>
  new Response(JSON.stringify({ ...p, status }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });

const Anything = z.record(z.string(), z.unknown());

/** A path segment percent-decoded; a malformed escape is taken as written. */
const safeDecode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

export function jmapRoutes(deps: Deps) {
  const app = newRouter();
  app.openAPIRegistry.registerComponent("securitySchemes", "basic", {
    type: "http",
    scheme: "basic",
    description: "The account address and an app password (JMAP mail clients).",
  });
  // Browser JMAP clients on other origins: credentials travel in the Authorization header only
  // (no cookies), so any origin may call, and no ambient credential can be abused (no CSRF).
  const crossOrigin = cors({
    origin: "*",
    allowHeaders: ["Authorization", "Content-Type", "Accept"],
    allowMethods: ["GET", "POST", "OPTIONS"],
    maxAge: 600,
  });
  app.use(JMAP_PATHS.session, crossOrigin);
  app.use("/jmap/*", crossOrigin);
  const limits = jmapLimits(deps.config);
  const auth = new JmapAuth(deps);
  /** Requests and uploads in flight per account (section 2: maxConcurrent…), this process. */
  const inFlight = new Map<string, number>();
  const baseUrl = (c: Context) =>
    (deps.config.publicUrl ?? new URL(c.req.url).origin)
      .replace(/\/+$/, "");
  const who = (c: Context): Promise<AuthContext> =>
    auth.authenticate(c.req.header("authorization"), c.get("clientIp") ?? "unknown");
  const ctxOf = (a: AuthContext, using: string[]): Ctx => ({
    deps,
    auth: a,
    limits,
    created: new Map(),
    using: new Set(using),
  });
  /** A slot under `key` (released by the function returned), or undefined when all are taken. */
  function acquire(key: string, max: number): (() => void) | undefined {
    const n = inFlight.get(key) ?? 0;
    if (n >= max) return undefined;
    inFlight.set(key, n + 1);
    return () => {
      const left = (inFlight.get(key) ?? 1) - 1;
      if (left > 0) inFlight.set(key, left);
      else inFlight.delete(key);
    };
  }
  const limitProblem = (max: number, limit: string, status = 400) =>
    jmapProblem({
      type: "urn:ietf:params:jmap:error:limit",
      status,
      detail: `at most ${max} at a time`,
      limit,
    });
  /** Runs `job` within the account's concurrency limit, else the limit problem. */
  async function bounded(key: string, max: number, limit: string, job: () => Promise<Response>) {
    const release = acquire(key, max);
    if (!release) return limitProblem(max, limit);
    try {
      return await job();
    } finally {
      release();
    }
  }

  app.openapi(
    createRoute({
      method: "get",
      path: JMAP_PATHS.session,
      operationId: "getJmapSession",
      tags: ["jmap"],
      summary: "JMAP Session resource (RFC 8620 section 2)",
      description: "Capabilities (core, mail, submission) with their limits, the caller's " +
        "account and the API, download, upload and EventSource URLs. Authenticate with " +
        "`Authorization: Basic` (address and app password, as JMAP clients do) or `Bearer` " +
        "(access token or API key).",
      security: [{ bearer: [] }, { basic: [] }],
      responses: {
        200: { description: "The Session", content: { "application/json": { schema: Anything } } },
        401: { description: "Not authenticated" },
      },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      const a = await who(c);
      c.header("cache-control", "no-cache, no-store");
      return c.json(await sessionObject(a, baseUrl(c), limits, deps.config.maxMessageBytes));
    }) as never,
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/jmap/api",
      operationId: "postJmapApi",
      tags: ["jmap"],
      summary: "JMAP API: run a Request of method calls (RFC 8620 section 3)",
      description: "The body is a JMAP Request `{using, methodCalls, createdIds?}`; the answer " +
        "a Response `{methodResponses, sessionState, createdIds?}`. Methods: Core/echo, " +
        "Mailbox/get|changes|query|queryChanges|set, Thread/get|changes, " +
        "Email/get|changes|query|queryChanges|set|copy|import|parse, SearchSnippet/get, " +
        "Identity/get|changes|set, EmailSubmission/get|changes|query|set. Errors of the whole " +
        "request (notJSON, notRequest, unknownCapability, limit) are problem+json with the " +
        '`urn:ietf:params:jmap:error:*` type; a failing method answers `["error", …]` in its ' +
        "place and the others still run.",
      security: [{ bearer: [] }, { basic: [] }],
      responses: {
        200: {
          description: "A JMAP Response",
          content: { "application/json": { schema: Anything } },
        },
        400: { description: "A request-level JMAP error (problem+json)" },
        401: { description: "Not authenticated" },
      },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      const a = await who(c);
      return await bounded(
        `r${a.accountId}`,
        limits.maxConcurrentRequests,
        "maxConcurrentRequests",
        async () => {
          const body = new Uint8Array(await c.req.arrayBuffer());
          const parsed = parseRequest(body, limits);
          if (!parsed.ok) return jmapProblem(parsed.problem);
          const session = await sessionObject(a, baseUrl(c), limits, deps.config.maxMessageBytes);
          const response = await runRequest(
            ctxOf(a, parsed.request.using),
            parsed.request,
            session.state,
          );
          return c.json(response, 200);
        },
      );
    }) as never,
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/jmap/upload/{accountId}/",
      operationId: "uploadJmapBlob",
      tags: ["jmap"],
      summary: "Upload a blob (RFC 8620 section 6.1)",
      description: "The raw bytes as the body; the answer names the blob for Email/import, " +
        "Email/parse or attachments. A blob is usable by the account that uploaded it only.",
      security: [{ bearer: [] }, { basic: [] }],
      request: { params: z.object({ accountId: z.string() }) },
      responses: {
        201: {
          description: "Stored",
          content: {
            "application/json": {
              schema: z.object({
                accountId: z.string(),
                blobId: z.string(),
                type: z.string(),
                size: z.number().int(),
              }),
            },
          },
        },
        401: { description: "Not authenticated" },
        404: { description: "Not your account" },
        413: { description: "Larger than maxSizeUpload" },
      },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      const a = await who(c);
      const accountId = c.req.param("accountId");
      if (accountId !== accountIdOf(a.accountId)) {
        throw new AppError(404, "not_found", "no such account for this credential");
      }
      if (!a.scopes.has("read")) throw new AppError(403, "insufficient_scope", "read scope");
      return await bounded(
        `u${a.accountId}`,
        limits.maxConcurrentUpload,
        "maxConcurrentUpload",
        async () => {
          const declared = Number(c.req.header("content-length") ?? 0);
          const tooLarge = () =>
            jmapProblem({
              type: "urn:ietf:params:jmap:error:limit",
              status: 413,
              detail: `a blob is at most ${limits.maxSizeUpload} octets`,
              limit: "maxSizeUpload",
            });
          if (declared > limits.maxSizeUpload) return tooLarge();
          const bytes = new Uint8Array(await c.req.arrayBuffer());
          if (bytes.byteLength > limits.maxSizeUpload) return tooLarge();
          const stored = await storeUpload(deps, a.accountId, bytes);
          return c.json({
            accountId,
            blobId: stored.blobId,
            type: safeContentType(c.req.header("content-type") ?? "application/octet-stream"),
            size: stored.size,
          }, 201);
        },
      );
    }) as never,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/jmap/download/{accountId}/{blobId}/{name}",
      operationId: "downloadJmapBlob",
      tags: ["jmap"],
      summary: "Download a blob (RFC 8620 section 6.2)",
      description: "A message (its exact stored bytes), one decoded body part of it, or an " +
        "upload; always as an attachment download. Another account's blob is 404, like one " +
        "that never existed.",
      security: [{ bearer: [] }, { basic: [] }],
      request: {
        params: z.object({ accountId: z.string(), blobId: z.string(), name: z.string() }),
        query: z.object({ accept: z.string().optional() }),
      },
      responses: {
        200: {
          description: "The bytes",
          content: { "application/octet-stream": { schema: z.string() } },
        },
        401: { description: "Not authenticated" },
        404: { description: "No such blob for this account" },
      },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      const a = await who(c);
      const { accountId, blobId, name } = c.req.param();
      const ref = parseBlobId(blobId);
      const bytes = accountId === accountIdOf(a.accountId) && ref && a.scopes.has("read")
        ? await blobBytes(ctxOf(a, []), a.accountId, ref)
        : undefined;
      if (!bytes) throw new AppError(404, "not_found", "no such blob");
      return c.body(bytes, 200, {
        "content-type": safeContentType(c.req.query("accept") ?? "application/octet-stream"),
        "content-disposition": contentDisposition(safeDecode(name)),
        // Blobs are immutable (section 6.2); never shown as a page of this origin.
        "cache-control": "private, immutable, max-age=31536000",
        "content-security-policy": "sandbox; default-src 'none'",
      });
    }) as never,
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/jmap/eventsource",
      operationId: "getJmapEventSource",
      tags: ["jmap"],
      summary: "JMAP push over EventSource (RFC 8620 section 7.3)",
      description: "`state` events carry StateChange objects for the `types` asked for (or " +
        "`*`); `closeafter=state` ends the stream after the first one; `ping` (seconds) sends " +
        "`ping` events with `{interval}`.",
      security: [{ bearer: [] }, { basic: [] }],
      request: {
        query: z.object({
          types: z.string().optional(),
          closeafter: z.enum(["state", "no"]).optional(),
          ping: z.string().optional(),
        }),
      },
      responses: {
        200: {
          description: "An event stream",
          content: { "text/event-stream": { schema: z.string() } },
        },
        401: { description: "Not authenticated" },
      },
    }),
    // deno-lint-ignore no-explicit-any
    (async (c: any) => {
      const a = await who(c);
      if (!a.scopes.has("read")) throw new AppError(403, "insufficient_scope", "read scope");
      const types = pushTypes(c.req.query("types"));
      const closeAfterState = c.req.query("closeafter") === "state";
      const ping = pingSeconds(c.req.query("ping"));
      // Streams stay open for hours: a bounded number per account, so one credential cannot
      // hold every connection the process has (this process's count, as for requests).
      let last = await pushStates(deps.store.db, a.accountId, types);
      const release = acquire(`e${a.accountId}`, MAX_STREAMS);
      if (!release) return limitProblem(MAX_STREAMS, "maxEventSources", 429);
      return streamSSE(c, async (stream) => {
        const waker = new Waker();
        let closed = false;
        const unsubscribe = deps.bus.subscribe(a.accountId, () => waker.wake());
        stream.onAbort(() => {
          closed = true;
          waker.wake();
        });
        let lastPing = Date.now();
        try {
          // Headers go out now: the client knows the stream is open before any change.
          await stream.write(": open\n\n");
          while (!closed) {
            const now = await pushStates(deps.store.db, a.accountId, types);
            const change = stateChange(a.accountId, last, now);
            if (change) {
              await stream.writeSSE({ event: "state", data: JSON.stringify(change) });
              last = now;
              if (closeAfterState) break;
            }
            if (ping > 0 && Date.now() - lastPing >= ping * 1000) {
              await stream.writeSSE({ event: "ping", data: JSON.stringify({ interval: ping }) });
              lastPing = Date.now();
            }
            await waker.sleep(ping > 0 ? Math.min(POLL_MS, ping * 1000) : POLL_MS);
          }
        } catch (error) {
          // The store went away (shutdown) or the client did: end the stream; clients reconnect.
          if (!closed) {
            deps.logger.log("warn", "jmap.push_ended", {
              error: String((error as Error)?.message),
            });
          }
        } finally {
          unsubscribe();
          release();
        }
      });
    }) as never,
  );
  return app;
}

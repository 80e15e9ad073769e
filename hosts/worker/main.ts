/**
 * Postern as a Cloudflare Worker (a module Worker: `{ fetch, scheduled, email }`), built by
 * `deno task worker:build` into .build/worker/worker.js and bound as deploy/cloudflare/
 * wrangler.toml.example shows:
 *
 * - `fetch`: the whole gateway API (src/app.ts) on D1, set up on the first request (gateway.ts);
 * - `scheduled`: the background work in bounded slices (scheduled.ts), from a cron trigger;
 * - `email`: inbound mail from Cloudflare Email Routing into the delivery pipeline (email.ts).
 *
 * No Node compatibility flag is needed: src/ uses Web APIs only (Web Crypto for SHA-256 and HMAC,
 * DNS over HTTPS, fetch) and WebAssembly only from modules the bundle imports precompiled
 * (argon2id for passwords: precompiled_wasm.ts, installed by the entry scripts/build_worker.ts
 * generates around this module). What needs sockets — SMTP in
 * and out on port 25, IMAP, POP3, SHARP/1.3 — runs in a bridge (`postern bridge --gateway
 * https://…`) that talks to this Worker over HTTPS.
 */
import { PEER_HEADER } from "../../src/http/client_ip.ts";
import { type EmailOutcome, type InboundEmail, receiveEmail } from "./email.ts";
import type { WorkerEnv } from "./env.ts";
import { gatewayFor } from "./gateway.ts";
import { runScheduled } from "./scheduled.ts";

/** The parts of the Workers runtime's types used here (workers-types is not loaded). */
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}
interface ScheduledController {
  readonly scheduledTime: number;
  readonly cron: string;
}

const problem = (status: number, code: string, detail: string) =>
  new Response(JSON.stringify({ type: "about:blank", title: code, status, code, detail }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });

/**
 * The request as the app sees it: `x-postern-peer` (src/http/client_ip.ts) is the client's
 * address as Cloudflare reports it (CF-Connecting-IP), never a value the client sent. Without
 * Accept-Encoding, because the platform compresses responses itself: a body the app gzipped
 * (hono's compress() on /openapi.json and /docs/assets) under `Content-Encoding: gzip` would be
 * compressed a second time by the runtime, which encodes bodies by that header.
 */
function forApp(request: Request): Request {
  const headers = new Headers(request.headers);
  headers.delete(PEER_HEADER);
  headers.delete("accept-encoding");
  const peer = request.headers.get("cf-connecting-ip");
  if (peer) headers.set(PEER_HEADER, peer);
  return new Request(request, { headers });
}

async function fetchHandler(request: Request, env: WorkerEnv): Promise<Response> {
  let gateway;
  try {
    gateway = await gatewayFor(env);
  } catch (error) {
    // Misconfiguration or a store that cannot be reached: the operator reads why in the logs
    // and in this answer (it names settings, never their secret values).
    console.error(
      JSON.stringify({ level: "error", event: "worker.setup_failed", error: String(error) }),
    );
    return problem(503, "server_busy", `the gateway is not ready: ${(error as Error).message}`);
  }
  return await gateway.app.fetch(forApp(request));
}

async function scheduledHandler(
  controller: ScheduledController,
  env: WorkerEnv,
  _ctx: ExecutionContext,
): Promise<void> {
  const { deps } = await gatewayFor(env);
  await runScheduled(deps, controller.scheduledTime);
}

async function emailHandler(
  message: InboundEmail,
  env: WorkerEnv,
  _ctx: ExecutionContext,
): Promise<EmailOutcome> {
  // A setup or store failure throws: Email Routing answers the sender with a temporary failure.
  const { deps } = await gatewayFor(env);
  return await receiveEmail(deps, message);
}

export default {
  fetch: fetchHandler,
  scheduled: scheduledHandler,
  email: emailHandler,
};

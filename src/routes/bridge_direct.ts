/**
 * The bridge routes' direct entry for a bridge in the same process (`postern serve`): the RCPT
 * check, the MX hand-in and the submission hand-in of `POST /v1/bridge/…` (routes/bridge.ts)
 * called with the body as values instead of a Request. The contract is the routes' own — the
 * same bridge-scoped API key signed in the same way, the same validation, body limit and
 * answers, errors as the problem+json body the HTTP route would send — without building a
 * Request and a Response, running the middleware chain and writing JSON text per message (about
 * a tenth of the event loop's time per SMTP message under `deno task bench --only d`).
 */
import {
  type BridgeAnswer,
  type BridgeCall,
  type BridgeDirect,
  InboundEnvelope,
  joinParts,
  RecipientCheckRequest,
  SubmissionEnvelope,
} from "../../schemas/bridge.ts";
import type { FieldError } from "../../schemas/problem.ts";
import { requireScope } from "../auth/auth_context.ts";
import { type SignedIn, signIn } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { logUnhandled, problemBody } from "../http/problem.ts";
import { inboundAnswer, recipientAnswer, submissionAnswer, validated } from "./bridge.ts";

const RECIPIENT = "/v1/bridge/recipient";
const INBOUND = "/v1/bridge/inbound";
const SUBMISSION = "/v1/bridge/submission";

/** The answer the HTTP error boundary (http/problem.ts) would give. */
const problem = (status: number, code: string, detail: string, errors?: FieldError[]) => ({
  status,
  body: problemBody(status, code, detail, { errors }) as unknown as Record<string, unknown>,
});

async function route(
  deps: Deps,
  { path, json, mail }: BridgeCall,
  signedIn: SignedIn,
): Promise<Record<string, unknown>> {
  if (path === RECIPIENT) {
    return await recipientAnswer(
      validated(RecipientCheckRequest, json, "body"),
      signedIn.reads,
    );
  }
  // The message in a buffer of its own (the caller keeps its parts), as a request body would be.
  const raw = joinParts(mail!.parts);
  if (path === INBOUND) {
    const envelope = validated(InboundEnvelope, mail!.envelope, "envelope");
    return await inboundAnswer(deps, envelope, raw, signedIn.reads);
  }
  return await submissionAnswer(
    deps,
    validated(SubmissionEnvelope, mail!.envelope, "envelope"),
    raw,
  );
}

export function bridgeDirect(deps: Deps): BridgeDirect {
  const answer = async (call: BridgeCall): Promise<BridgeAnswer> => {
    const { path, mail } = call;
    if (path !== RECIPIENT && !(mail && (path === INBOUND || path === SUBMISSION))) {
      return problem(404, "not_found", `no direct route for POST ${path}`);
    }
    // The app's body limit comes before everything else, as on HTTP.
    const size = mail ? mail.parts.reduce((n, p) => n + p.byteLength, 0) : 0;
    if (size > deps.config.maxRequestBytes) {
      return problem(
        413,
        "payload_too_large",
        `the request body exceeds ${deps.config.maxRequestBytes} bytes`,
      );
    }
    // The routes' middleware: the key (optimistic reads where the route has them), its scope.
    const signedIn = await signIn(deps, `Bearer ${call.apiKey}`, path !== SUBMISSION);
    requireScope(signedIn.auth, "bridge");
    let body: Record<string, unknown>;
    try {
      body = await route(deps, call, signedIn);
    } catch (e) {
      await signedIn.done(); // a refusal stands only on reads that still hold, as on HTTP
      throw e;
    }
    await signedIn.done();
    return { status: 200, body };
  };
  return {
    paths: new Set([RECIPIENT, INBOUND, SUBMISSION]),
    async call(call) {
      try {
        return await answer(call);
      } catch (e) {
        if (e instanceof AppError) return problem(e.status, e.code, e.message, e.fields);
        logUnhandled(deps.logger, { path: call.path, method: "POST", direct: true }, e);
        return problem(500, "internal", "an internal error occurred");
      }
    },
  };
}

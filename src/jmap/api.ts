/**
 * Runs a JMAP Request (RFC 8620 section 3.3): each method call in order, each seeing the
 * responses before it (result references, section 3.7) and the ids created before it
 * (`#creationId`, section 5.3), each answering on its own — an error in one call is that call's
 * "error" response (section 3.6.2) and the next call still runs. A method is known only when its
 * capability is in `using` (section 3.3: otherwise unknownMethod).
 */
import { AppError } from "../errors.ts";
import { blobCopy } from "./blobs.ts";
import type { Ctx } from "./context.ts";
import { emailGet, emailParse } from "./email_get.ts";
import { emailQuery, emailQueryChanges } from "./email_query.ts";
import { emailCopy, emailImport, emailSet } from "./email_set.ts";
import {
  submissionChanges,
  submissionGet,
  submissionQuery,
  submissionQueryChanges,
  submissionSet,
} from "./email_submission.ts";
import { identityChanges, identityGet, identitySet } from "./identity.ts";
import {
  mailboxChanges,
  mailboxGet,
  mailboxQuery,
  mailboxQueryChanges,
  mailboxSet,
} from "./mailbox.ts";
import {
  CORE,
  type Invocation,
  type JmapRequest,
  type Json,
  MAIL,
  MethodError,
  resolveReferences,
  SUBMISSION,
} from "./protocol.ts";
import { searchSnippetGet } from "./search_snippet.ts";
import { emailChanges, threadChanges, threadGet } from "./thread.ts";

type Result = Record<string, Json> | [string, Record<string, Json>][];
type Handler = (ctx: Ctx, args: Record<string, Json>) => Promise<Result> | Result;

const METHODS: Record<string, [capability: string, handler: Handler]> = {
  // RFC 8620 section 4: returns its arguments unchanged.
  "Core/echo": [CORE, (_ctx, args) => args],
  "Blob/copy": [CORE, blobCopy],
  "Mailbox/get": [MAIL, mailboxGet],
  "Mailbox/changes": [MAIL, mailboxChanges],
  "Mailbox/query": [MAIL, mailboxQuery],
  "Mailbox/queryChanges": [MAIL, mailboxQueryChanges],
  "Mailbox/set": [MAIL, mailboxSet],
  "Thread/get": [MAIL, threadGet],
  "Thread/changes": [MAIL, threadChanges],
  "Email/get": [MAIL, emailGet],
  "Email/changes": [MAIL, emailChanges],
  "Email/query": [MAIL, emailQuery],
  "Email/queryChanges": [MAIL, emailQueryChanges],
  "Email/set": [MAIL, emailSet],
  "Email/copy": [MAIL, emailCopy],
  "Email/import": [MAIL, emailImport],
  "Email/parse": [MAIL, emailParse],
  "SearchSnippet/get": [MAIL, searchSnippetGet],
  "Identity/get": [SUBMISSION, identityGet],
  "Identity/changes": [SUBMISSION, identityChanges],
  "Identity/set": [SUBMISSION, identitySet],
  "EmailSubmission/get": [SUBMISSION, submissionGet],
  "EmailSubmission/changes": [SUBMISSION, submissionChanges],
  "EmailSubmission/query": [SUBMISSION, submissionQuery],
  "EmailSubmission/queryChanges": [SUBMISSION, submissionQueryChanges],
  "EmailSubmission/set": [SUBMISSION, submissionSet],
};

export const METHOD_NAMES = Object.keys(METHODS);

/** A service error met inside a method, as the method error a client can act on. */
function methodErrorOf(e: unknown, ctx: Ctx, call: Invocation): MethodError {
  if (e instanceof MethodError) return e;
  if (e instanceof AppError && e.status < 500) {
    if (e.status === 403) return new MethodError("forbidden", e.message);
    if (e.status === 404) return new MethodError("invalidArguments", e.message);
    if (e.status === 429 || e.status === 503) {
      return new MethodError("serverUnavailable", e.message);
    }
    return new MethodError("invalidArguments", e.message);
  }
  ctx.deps.logger.log("error", "jmap.method_failed", {
    method: call[0],
    error: e instanceof Error ? e.message : String(e),
  });
  return new MethodError("serverFail", "the server could not complete this method");
}

export async function runRequest(ctx: Ctx, request: JmapRequest, sessionState: string) {
  const responses: Invocation[] = [];
  for (const [id, value] of Object.entries(request.createdIds ?? {})) {
    if (typeof value === "string") ctx.created.set(id, value);
  }
  for (const call of request.methodCalls) {
    const [name, rawArgs, callId] = call;
    const method = METHODS[name];
    if (!method || !ctx.using.has(method[0])) {
      responses.push([
        "error",
        { type: "unknownMethod", description: method ? `add ${method[0]} to "using"` : name },
        callId,
      ]);
      continue;
    }
    try {
      const args = resolveReferences(rawArgs, responses);
      const result = await method[1](ctx, args);
      if (Array.isArray(result)) { for (const [n, a] of result) responses.push([n, a, callId]); }
      else responses.push([name, result, callId]);
    } catch (e) {
      responses.push(["error", methodErrorOf(e, ctx, call).toArgs(), callId]);
    }
  }
  return {
    methodResponses: responses,
    ...(request.createdIds ? { createdIds: Object.fromEntries(ctx.created) } : {}),
    sessionState,
  };
}

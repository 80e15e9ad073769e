/**
 * Routes the protocol bridge uses (API keys with the `bridge` scope): check a credential for
 * SMTP/IMAP/POP3 AUTH, check a recipient during RCPT TO, and hand in received or submitted mail
 * as `application/vnd.postern.mail` (one line of envelope JSON, LF, the message bytes: no
 * multipart parsing per message). Answers only after the commit, so the bridge may say 250
 * exactly when the gateway has stored the message.
 */
import { isApiKeySecret, verifyRelayKey } from "../auth/relay_keys.ts";
import { createRoute, z } from "@hono/zod-openapi";
import { toJSONSchema } from "zod";
import {
  BridgeAuthRequest,
  BridgeAuthResponse,
  BridgeDeliveryResponse,
  decodeMail,
  InboundEnvelope,
  MAIL_MEDIA_TYPE,
  RecipientCheckRequest,
  RecipientVerdict,
  SubmissionEnvelope,
} from "../../schemas/bridge.ts";
import { parseAddress } from "../../schemas/address.ts";
import { type AuthContext, requireScope } from "../auth/auth_context.ts";
import { requireAuth, withReads } from "../auth/authenticate.ts";
import { verifyAccountSecret } from "../auth/app_passwords.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { bridgeKey, json, newRouter, ok, problems } from "../http/router.ts";
import { zodFieldErrors } from "../http/problem.ts";
import { findAccountByAddress, findDomain } from "../services/accounts.ts";
import {
  deliver,
  isHostPostmaster,
  postmasterRoute,
  type RecipientResult,
  servesRecipient,
} from "../services/delivery.ts";
import { type MailSessionTokens, prepareMailSession } from "../services/mail_access_session.ts";
import { greylisted } from "../services/spam_greylist.ts";
import { sharpRecipientProblem } from "../services/sharp_route.ts";
import { submitMessage } from "../services/submission.ts";
import {
  receiveReturn,
  returnPathMessage,
  splitReturnPaths,
} from "../transactional/return_path.ts";
import { srsRoute } from "../forwarding/forward.ts";

const mailBody = (envelope: string) => ({
  content: {
    [MAIL_MEDIA_TYPE]: {
      schema: z.string().meta({
        format: "binary",
        description: `The envelope (#/components/schemas/${envelope}) as one line of JSON, ` +
          "then LF, then the exact " +
          "RFC 5322 message bytes up to the end of the body. JSON text never holds a raw LF, " +
          "so the first LF ends the envelope; a CR before it is JSON whitespace.",
      }),
    },
  },
  required: true,
});

/** Bodies up to this size are read whole (readBody). */
const SMALL_BODY_BYTES = 256 * 1024;

/**
 * The body in one buffer of its declared length, filled as it streams in: a large message is
 * copied once (arrayBuffer() on a streamed body would gather chunks, then join them). The body
 * limit and budget middlewares have checked the declared length already.
 */
async function readBody(req: Request): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  // A small body (most mail) in one arrayBuffer(): an in-process hand-in's buffer is then
  // copied once without a stream being made for it, which cost more than the copy. (Reading
  // `req.body` first would make that stream.)
  if (!Number.isSafeInteger(declared) || declared < 0) {
    return new Uint8Array(await req.arrayBuffer());
  }
  if (declared <= SMALL_BODY_BYTES || !req.body) {
    const whole = new Uint8Array(await req.arrayBuffer());
    if (whole.byteLength !== declared) throw wrongLength();
    return whole;
  }
  const out = new Uint8Array(declared);
  let at = 0;
  for await (const chunk of req.body) {
    if (at + chunk.byteLength > declared) break;
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== declared) throw wrongLength();
  return out;
}

const wrongLength = () =>
  new AppError(400, "bad_request", "the body does not have its declared Content-Length");

async function readMail<T extends z.ZodType>(
  req: Request,
  schema: T,
): Promise<{ envelope: z.output<T>; raw: Uint8Array }> {
  const type = req.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== MAIL_MEDIA_TYPE) {
    throw new AppError(415, "unsupported_media_type", `send the mail as ${MAIL_MEDIA_TYPE}`);
  }
  const decoded = decodeMail(await readBody(req));
  if (!decoded.ok) throw new AppError(400, decoded.code, decoded.message);
  return { envelope: validated(schema, decoded.envelope, "envelope"), raw: decoded.raw };
}

/**
 * `value` checked against `schema`; 422 with every bad field otherwise: a hand-in's envelope
 * (`envelope`, its fields named under it) or a JSON body (`body`, as zod-openapi names them).
 */
export function validated<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: "envelope" | "body",
): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AppError(
      422,
      "validation_failed",
      what === "envelope" ? "the envelope has invalid fields" : "the request has invalid fields",
      zodFieldErrors(parsed.error, what === "envelope" ? "envelope" : ""),
    );
  }
  return parsed.data;
}

const wire = (r: RecipientResult) => ({
  recipient: r.recipient,
  status: r.status === "forwarded" ? "queued" as const : r.status,
  ...(r.code ? { code: r.code } : {}),
  ...(r.temporary ? { temporary: true } : {}),
  ...(r.reason ? { reason: r.reason } : {}),
});

/** The RCPT verdict for a parsed recipient (see the route's description). */
async function recipientVerdict(
  deps: Deps,
  parsed: { address: string; domain: string },
  authenticatedAs: string | undefined,
  mx?: { clientIp?: string; mailFrom?: string },
): Promise<z.infer<typeof RecipientVerdict>> {
  const postmaster = postmasterRoute(deps.config);
  const local = (await findDomain(deps.store.db, parsed.domain)) !== undefined ||
    isHostPostmaster(parsed.address, postmaster);
  if (!local) {
    const sender = authenticatedAs
      ? await findAccountByAddress(deps.store.db, authenticatedAs)
      : undefined;
    if (!sender || sender.disabled) {
      return { accept: false, local: false, code: "relay_denied", reason: "relaying denied" };
    }
    // Refused at RCPT rather than bounced later (src/services/sharp_route.ts).
    const sharp = await sharpRecipientProblem(deps, parsed.address);
    return sharp
      ? { accept: false, local: false, code: "sharp_unsupported_recipient", reason: sharp }
      : { accept: true, local: false };
  }
  // issue21#3: an SRS address of ours takes bounces only while its hash and age check out.
  const srs = await srsRoute(deps, deps.store.db, parsed.address);
  if (srs) {
    return srs.ok
      ? { accept: true, local: true }
      : { accept: false, local: true, code: "no_such_recipient", reason: "no such mailbox here" };
  }
  const served = await servesRecipient(deps.store.db, parsed.address, postmaster);
  // A signed VERP return path of one of our messages takes bounces and complaints.
  const returnPath = !served && (await returnPathMessage(deps, parsed.address)) !== undefined;
  // Greylisting of MX mail (issue 21 item 1, services/spam_greylist.ts): 451 4.7.1 at RCPT.
  if (
    served && !authenticatedAs && mx?.clientIp &&
    await greylisted(deps, {
      clientIp: mx.clientIp,
      mailFrom: mx.mailFrom ?? "",
      recipient: parsed.address,
    })
  ) {
    return {
      accept: false,
      local: true,
      code: "greylisted",
      temporary: true,
      reason: "greylisted: please try again later",
    };
  }
  return served || returnPath ? { accept: true, local: true } : {
    accept: false,
    local: true,
    code: "no_such_recipient",
    reason: "no such mailbox here",
  };
}

/** Runs a route's work with the caller's credential (and its optimistic reads). */
export type WithReads = <T>(run: (deps: Deps, auth: AuthContext) => Promise<T>) => Promise<T>;

/** `POST /bridge/recipient`'s answer to a valid body. */
export async function recipientAnswer(
  { recipient, authenticatedAs, clientIp, mailFrom }: z.infer<typeof RecipientCheckRequest>,
  reads: WithReads,
): Promise<z.infer<typeof RecipientVerdict>> {
  const parsed = parseAddress(recipient);
  if (!parsed.ok) {
    return { accept: false, local: false, code: "validation_failed", reason: parsed.error };
  }
  return await reads((deps, auth) => {
    requireScope(auth, "bridge");
    return recipientVerdict(deps, parsed.value, authenticatedAs, { clientIp, mailFrom });
  });
}

/** `POST /bridge/inbound`'s answer to a valid envelope and its message, after the commit. */
export async function inboundAnswer(
  deps: Deps,
  envelope: z.output<typeof InboundEnvelope>,
  raw: Uint8Array,
  reads: WithReads,
): Promise<BridgeDeliveryResponse> {
  // Reports sent to a signed return path go to the returns matcher, never to a mailbox.
  const { returns, mail } = await splitReturnPaths(deps, envelope.recipients);
  const returned: RecipientResult[] = [];
  if (returns.length > 0) {
    await receiveReturn(deps, raw, returns);
    returned.push(...returns.map((recipient) => ({ recipient, status: "delivered" as const })));
  }
  if (mail.length === 0) return { results: returned.map(wire) };
  const results = await reads((deps, auth) => {
    requireScope(auth, "bridge");
    return deliver(deps, {
      raw,
      mailFrom: envelope.mailFrom,
      recipients: mail,
      source: envelope.source ?? "smtp",
      authentication: envelope.authentication
        ? {
          ...envelope.authentication,
          clientIp: envelope.clientIp,
          helo: envelope.helo,
          tls: envelope.tls,
        }
        : { clientIp: envelope.clientIp, helo: envelope.helo, tls: envelope.tls },
      mailboxRole: envelope.junk ? "junk" : "inbox",
      traceBytes: Math.min(envelope.traceBytes ?? 0, raw.byteLength),
    });
  });
  deps.metrics?.received(envelope.source ?? "smtp", results);
  if (returned.length === 0) return { results: results.map(wire) };
  // In envelope order: the bridge pairs results with its RCPT TO commands by position.
  const byRecipient = new Map([...returned, ...results].map((r) => [r.recipient, r]));
  const merged = envelope.recipients.flatMap((r) => byRecipient.get(r) ?? []);
  return { results: merged.map(wire) };
}

/** `POST /bridge/submission`'s answer to a valid envelope and its message, after the commit. */
export async function submissionAnswer(
  deps: Deps,
  envelope: z.output<typeof SubmissionEnvelope>,
  raw: Uint8Array,
): Promise<BridgeDeliveryResponse> {
  const { results, replayed } = await submitMessage(deps, envelope, raw);
  if (!replayed) deps.metrics?.received("submission", results);
  return { results: results.map(wire), ...(replayed ? { replayed } : {}) };
}

/** The routes that run their work through `withReads`. */
const OPTIMISTIC = /\/bridge\/(?:recipient|inbound|outbox\/claim)$/;

export function bridgeRoutes(deps: Deps) {
  const app = newRouter();
  // The envelopes travel inside the mail body, not as a JSON body: list them as components.
  // (As JSON Schema: register() needs zod-openapi's extension, which the shared schemas lack.)
  for (
    const [name, schema] of [
      ["InboundEnvelope", InboundEnvelope],
      ["SubmissionEnvelope", SubmissionEnvelope],
    ] as const
  ) {
    const json = toJSONSchema(schema, { target: "openapi-3.0", unrepresentable: "any" }) as {
      definitions?: Record<string, unknown>;
    };
    // A schema with a meta id comes back as a $ref into its own `definitions`.
    app.openAPIRegistry.registerComponent(
      "schemas",
      name,
      (json.definitions?.[name] ?? json) as never,
    );
  }
  // Per received message: the RCPT checks, the hand-in and the outbox claims re-check the key
  // and the cached routing reads in their write job, or in one read (store/read_scope.ts).
  app.use(
    "/bridge/*",
    requireAuth(deps, {
      optimistic: (c) => c.req.method === "POST" && OPTIMISTIC.test(c.req.path),
    }),
  );
  app.use("/bridge/*", async (c, next) => {
    requireScope(c.get("auth"), "bridge");
    await next();
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/auth",
      operationId: "bridgeAuthenticate",
      tags: ["bridge"],
      summary: "Check an account's password or app password (SMTP/IMAP/POP3 AUTH)",
      description: "For `smtp`/`submission`, a password that is an API key (`pst_…`, with the " +
        "`send` scope) signs in as the key's account whatever the user name (SMTP relay with " +
        "an API key), and the answer names the key (`apiKeyId`). " +
        "For `imap` and `pop3` (or with `session: true`) the answer also holds an " +
        "access token and refresh token of a new session for that account (user agent = the " +
        "protocol): the bridge then uses the account-scoped API as that account.",
      security: bridgeKey,
      request: { body: json(BridgeAuthRequest) },
      responses: { 200: ok("Valid", BridgeAuthResponse), ...problems(401, 403, 422, 429) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      // SMTP relay: an API key as the password (auth/relay_keys.ts); never for IMAP or POP3.
      if (
        (body.protocol === "smtp" || body.protocol === "submission") && isApiKeySecret(body.secret)
      ) {
        const key = await verifyRelayKey(deps, body.username, body.secret, body.clientIp);
        if (!key) {
          throw new AppError(
            401,
            "invalid_credentials",
            "the API key is unknown, revoked or lacks the send scope",
          );
        }
        return c.json(
          { accountId: key.accountId, address: key.address, apiKeyId: key.apiKeyId },
          200,
        );
      }
      const wantsSession = body.session ?? (body.protocol === "imap" || body.protocol === "pop3");
      let tokens: MailSessionTokens | undefined;
      // The session row commits in the credential check's own write job (one durable write).
      const account = await verifyAccountSecret(deps, body.username, body.secret, {
        ip: body.clientIp,
        alsoWrite: wantsSession
          ? async (account) => {
            const session = await prepareMailSession(
              deps,
              account.id,
              body.protocol,
              body.clientIp,
            );
            tokens = session.tokens;
            return [session.statement];
          }
          : undefined,
      });
      if (!account) {
        throw new AppError(401, "invalid_credentials", "the username or password is wrong");
      }
      const base = { accountId: account.id, address: account.address };
      return c.json(tokens ? { ...base, ...tokens } : base, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/recipient",
      operationId: "bridgeCheckRecipient",
      tags: ["bridge"],
      summary: "May this recipient be accepted? (RCPT TO)",
      description: "Without `authenticatedAs` (MX), only existing local recipients are accepted: " +
        "Postern is never an open relay; with greylisting on (POSTERN_SPAM_GREYLIST) and the " +
        "MX's `clientIp` and `mailFrom` given, a first-time triplet is refused for now " +
        "(`greylisted`, temporary: 451 4.7.1). An authenticated sender may address anyone, except " +
        "an address SHARP/1.3 cannot carry when that is the recipient's route " +
        "(`sharp_unsupported_recipient`).",
      security: bridgeKey,
      request: { body: json(RecipientCheckRequest) },
      responses: { 200: ok("Verdict", RecipientVerdict), ...problems(401, 403, 422) },
    }),
    async (c) =>
      c.json(
        await recipientAnswer(c.req.valid("json"), (run) => withReads(c, deps, run)),
        200,
      ),
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/inbound",
      operationId: "bridgeDeliverInbound",
      tags: ["bridge"],
      summary: "Hand in mail received from another server (SMTP MX or SHARP/1.3)",
      description:
        "The bridge hands in a message accepted on port 25 or over SHARP/1.3, with its envelope " +
        "and the authentication verdicts it computed (SPF, DKIM, DMARC, ARC). Answers per " +
        "recipient after the durable commit; the same message handed in twice is stored once. " +
        "Needs an API key with the `bridge` scope.",
      security: bridgeKey,
      request: {
        body: mailBody("InboundEnvelope"),
      },
      responses: {
        200: ok("Per-recipient results, after the commit", BridgeDeliveryResponse),
        ...problems(400, 401, 403, 413, 415, 422),
      },
    }),
    async (c) => {
      const { envelope, raw } = await readMail(c.req.raw, InboundEnvelope);
      return c.json(
        await inboundAnswer(deps, envelope, raw, (run) => withReads(c, deps, run)),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/bridge/submission",
      operationId: "bridgeSubmitMessage",
      tags: ["bridge"],
      summary: "Hand in mail submitted by an authenticated account (submission port)",
      description: "An `Idempotency-Key` header field in the message is removed from it and " +
        "honoured for 24 hours per account: the same key with the same envelope answers with " +
        "the first result (`replayed: true`) and sends nothing; with another envelope, 409.",
      security: bridgeKey,
      request: {
        body: mailBody("SubmissionEnvelope"),
      },
      responses: {
        200: ok("Per-recipient results, after the commit", BridgeDeliveryResponse),
        ...problems(400, 401, 403, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { envelope, raw } = await readMail(c.req.raw, SubmissionEnvelope);
      return c.json(await submissionAnswer(deps, envelope, raw), 200);
    },
  );
  return app;
}

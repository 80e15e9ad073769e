/**
 * Federation's HTTP surface (docs/federation.md): the discovery document and JWKS under
 * `/.well-known/sharp` for each local domain (chosen by `?domain=` or else the Host header), and
 * `POST /v1/federation/deliver`, which answers a signed receipt or problem+json with one of the
 * documented federation codes, and `POST /v1/federation/deliver-batch`, several such deliveries
 * in one request, each answered on its own.
 */
import { createRoute, z } from "@hono/zod-openapi";
import {
  BatchDeliveryRequest,
  BatchDeliveryResponse,
  DeliveryRequest,
  DeliveryResponse,
  DiscoveryDocument,
  FEDERATION_ERRORS,
  FederationJwks,
  StoredReceiptList,
} from "../../schemas/federation.ts";
import type { Deps } from "../deps.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import { schema } from "../store/store.ts";
import { and, eq, inArray } from "drizzle-orm";
import { AppError, type ErrorCode, notFound } from "../errors.ts";
import { findDomain } from "../services/accounts.ts";
import { publishedJwks } from "../federation/keys.ts";
import { discoveryDocument } from "../federation/policy.ts";
import { FederationError, logRefusal, receiveDelivery } from "../federation/receive.ts";
import { receiveBatch } from "../federation/receive_batch.ts";

/**
 * A delivery endpoint's work: 503 while federation is off here, and a refusal answered as
 * problem+json with its documented code.
 */
async function delivering<T>(deps: Deps, run: () => Promise<T>): Promise<T> {
  if (!deps.federation) {
    throw federationProblem(503, "federation_disabled", "federation is not enabled here");
  }
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof FederationError)) throw e;
    logRefusal(deps, e);
    throw federationProblem(FEDERATION_ERRORS[e.code], e.code, e.message);
  }
}

const DomainQuery = z.object({
  domain: z.string().max(255).optional().meta({
    param: { name: "domain", in: "query" },
    description: "The domain asked about; default: the Host header's.",
  }),
});

/** Federation's own codes (schemas/federation.ts) leave through the one problem+json handler. */
const federationProblem = (status: number, code: string, message: string) =>
  new AppError(status, code as ErrorCode, message);

export function federationRoutes(deps: Deps) {
  const app = newRouter();

  const domainOf = async (requested: string | undefined, host: string | undefined) => {
    // Without its ports this gateway cannot verify senders: it does not advertise federation.
    if (!deps.federation) return undefined;
    const name = (requested ?? host ?? "").toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
    return name && await findDomain(deps.store.db, name) ? name : undefined;
  };
  const origin = (url: string) => deps.config.publicUrl ?? new URL(url).origin;

  app.openapi(
    createRoute({
      method: "get",
      path: "/.well-known/sharp",
      operationId: "getSharpDiscovery",
      tags: ["federation"],
      summary: "The federation discovery document of a local domain",
      description:
        "The federation discovery document of the local domain named by the Host: protocol " +
        "versions, the delivery endpoint, the key set and the limits peers must respect " +
        "(docs/federation.md).",
      request: { query: DomainQuery },
      responses: { 200: ok("The document", DiscoveryDocument), ...problems(404) },
    }),
    async (c) => {
      const domain = await domainOf(c.req.valid("query").domain, c.req.header("host"));
      if (!domain) throw notFound("federation for this domain");
      const doc = discoveryDocument(deps, domain, origin(c.req.url));
      c.header("cache-control", `max-age=${doc.ttl}`);
      return c.json(doc, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/.well-known/sharp/jwks",
      operationId: "getSharpJwks",
      tags: ["federation"],
      summary: "The federation public keys of a local domain (RFC 7517 JWK Set)",
      description:
        "The federation public keys of the local domain named by the Host, as an RFC 7517 JWK " +
        "Set; peers verify signed messages and receipts with them.",
      request: { query: DomainQuery },
      responses: { 200: ok("The keys", FederationJwks), ...problems(404) },
    }),
    async (c) => {
      const domain = await domainOf(c.req.valid("query").domain, c.req.header("host"));
      if (!domain) throw notFound("federation for this domain");
      c.header("cache-control", "max-age=300");
      return c.json(await publishedJwks(deps, domain), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/federation/deliver",
      operationId: "deliverFederatedMessage",
      tags: ["federation"],
      summary: "Deliver a signed message from a peer gateway; answers a signed receipt",
      description: "The envelope's JWS is checked against the sending domain's JWKS, then the " +
        "time window, From alignment, digest, rate limit, proof-of-work and nonce. Errors carry " +
        `one of these codes: ${Object.keys(FEDERATION_ERRORS).join(", ")}.`,
      request: { body: json(DeliveryRequest) },
      responses: {
        200: ok("Stored (per recipient) and signed receipt", DeliveryResponse),
        ...problems(400, 401, 402, 403, 404, 409, 413, 421, 422, 429, 503),
      },
    }),
    async (c) => {
      const answer = await delivering(deps, () => receiveDelivery(deps, c.req.valid("json")));
      deps.metrics?.received("federation", answer.results);
      return c.json(answer, 200);
    },
  );
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/federation/deliver-batch",
      operationId: "deliverFederatedBatch",
      tags: ["federation"],
      summary: "Deliver several signed messages from a peer gateway; one receipt each",
      description: "Advertised as `batch` in the discovery document, with its bounds " +
        "(`maxMessages`, `maxBytes`; 413 `too_large` above them). Each delivery is an " +
        "independent `FederationDeliveryRequest` with its own signed envelope: it is checked, " +
        "rate-limited and stored exactly as by `POST /v1/federation/deliver`, and answered in " +
        "`items` (same order) by that endpoint's status with its signed receipt, or its error " +
        "code. A bad delivery fails only itself; one retried later is stored once.",
      request: { body: json(BatchDeliveryRequest) },
      responses: {
        200: ok("One answer per delivery, in order", BatchDeliveryResponse),
        ...problems(400, 404, 413, 422, 503),
      },
    }),
    async (c) => c.json(await delivering(deps, () => receiveBatch(deps, c.req.valid("json"))), 200),
  );
  app.use("/v1/federation/receipts", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/federation/receipts",
      operationId: "listFederationReceipts",
      tags: ["federation"],
      summary: "The signed receipts for a message this account sent by federation",
      description: "Proof of delivery: each peer domain's receipt JWS for the message with this " +
        "Message-ID, as received and verified, with its per-recipient results. Only the " +
        "sender's own messages are found.",
      security: bearer,
      request: {
        query: z.object({
          messageId: z.string().min(1).max(998).meta({ description: "The Message-ID header." }),
        }),
      },
      responses: {
        200: ok("Receipts, oldest first", StoredReceiptList),
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const { messageId } = c.req.valid("query");
      const bare = messageId.trim().replace(/^<|>$/g, "");
      const rows = await deps.store.db.select().from(schema.federationReceipts)
        .where(inArray(schema.federationReceipts.messageIdHeader, [bare, `<${bare}>`]))
        .orderBy(schema.federationReceipts.id);
      const items = [];
      for (const row of rows) {
        // Only receipts for deliveries that carried this account's own outbox rows.
        const ids = (JSON.parse(row.outboxIds) as number[]).filter(Number.isSafeInteger);
        if (ids.length === 0) continue;
        const mine = await deps.store.db.select({ id: schema.outbox.id }).from(schema.outbox)
          .where(and(inArray(schema.outbox.id, ids), eq(schema.outbox.accountId, auth.accountId)))
          .limit(1);
        if (mine.length === 0) continue;
        items.push({
          domain: row.domain,
          messageId: row.messageIdHeader,
          receipt: row.receipt,
          results: JSON.parse(row.results),
          receivedAt: row.createdAt,
        });
      }
      return c.json({ items }, 200);
    },
  );
  return app;
}

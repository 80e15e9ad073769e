import { assert, assertEquals } from "./fixtures/assert.ts";
import { createTestGateway } from "./fixtures/app.ts";
import openapiTS from "openapi-typescript";
import { createApp } from "../src/app.ts";
import type { z } from "zod";
import {
  BatchRequest,
  BatchResponse,
  TxEmailView,
  TxSendRequest,
  TxSendResponse,
} from "../schemas/tx_send.ts";
import { LoginRequest, TokenPair } from "../src/routes/auth.ts";
import { ApiKeyRequest, NewApiKey } from "../src/routes/credentials.ts";
import {
  Mailbox,
  MailboxCreateRequest,
  MailboxList,
  MessageBatchRequest,
  MessageBatchResult,
  MessagePage,
  MessageSummary,
  MessageUpdateRequest,
} from "../schemas/api_mail.ts";
import { WebhookInput, WebhookWithSecret } from "../schemas/tx_webhooks.ts";
import {
  PreviewRequest,
  PreviewResponse,
  TemplateInput,
  TemplateView,
} from "../schemas/tx_templates.ts";
import { SuppressionInput, SuppressionList, SuppressionView } from "../schemas/tx_suppression.ts";
import { AnalyticsResponse } from "../schemas/tx_analytics.ts";
import { ResendId, ResendSendRequest } from "../schemas/compat_resend.ts";
import { PostmarkEmail, PostmarkResult } from "../schemas/compat_postmark.ts";
import { WEBHOOK_EVENT_TYPES, WEBHOOK_EVENTS, WebhookEvent } from "../schemas/tx_webhooks.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Every operation of the document: paths and webhooks. */
function operations(spec: Json): { where: string; op: Json }[] {
  const out: { where: string; op: Json }[] = [];
  for (const [section, entries] of [["paths", spec.paths], ["webhooks", spec.webhooks ?? {}]]) {
    for (const [path, item] of Object.entries(entries as Record<string, Json>)) {
      for (const [method, op] of Object.entries(item as Record<string, Json>)) {
        if (["get", "put", "post", "delete", "patch", "head", "options"].includes(method)) {
          out.push({ where: `${section} ${method.toUpperCase()} ${path}`, op });
        }
      }
    }
  }
  return out;
}

Deno.test("/openapi.json is OpenAPI 3.1 and lists every /v1 route the app answers", async () => {
  const gw = await createTestGateway();
  const spec = await (await gw.call("GET", "/openapi.json")).json();
  assertEquals(spec.openapi, "3.1.0");
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(spec.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(ops)) {
      documented.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`);
    }
  }
  const answered = gw.app.routes
    .filter((r) => r.path.startsWith("/v1/") && r.method !== "ALL")
    .map((r) => `${r.method} ${r.path}`);
  assert(answered.length > 20, `expected many routes, got ${answered.length}`);
  const missing = answered.filter((r) => !documented.has(r));
  assertEquals(missing, [], "routes answered but absent from /openapi.json");
  assert(spec.components.securitySchemes.bearer, "bearer security scheme");
  gw.close();
});

Deno.test("issue19#6: every operation has a stable, unique camelCase operationId, a summary, a description and a tag", async () => {
  // The guard for every route added later: generated clients name their methods after these.
  const gw = await createTestGateway();
  const spec = await (await gw.call("GET", "/openapi.json")).json();
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const { where, op } of operations(spec)) {
    const id = op.operationId;
    if (typeof id !== "string") problems.push(`${where}: no operationId`);
    else if (!/^[a-z][a-zA-Z0-9]*$/.test(id)) problems.push(`${where}: ${id} is not camelCase`);
    else if (seen.has(id)) problems.push(`${where}: ${id} is also ${seen.get(id)}`);
    else seen.set(id, where);
    if (!op.summary) problems.push(`${where}: no summary`);
    if (!op.description) problems.push(`${where}: no description`);
    if (!op.tags?.length) problems.push(`${where}: no tag`);
  }
  assertEquals(problems, []);
  // Stable: a few names clients already call (renaming one breaks every generated client).
  for (const id of ["sendEmail", "login", "listMessages", "createWebhook", "onEmailDelivered"]) {
    assert(seen.has(id), `operationId ${id} is kept`);
  }
  gw.close();
});

Deno.test("issue18#3: /openapi.json is a valid OpenAPI 3.1 document: it parses, every $ref resolves, every security scheme exists", async () => {
  const gw = await createTestGateway();
  const spec = await (await gw.call("GET", "/openapi.json")).json();
  // openapi-typescript runs Redocly's structural rules and throws on an error.
  await openapiTS(structuredClone(spec));
  const refs: string[] = [];
  const walk = (node: Json) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === "object") {
      if (typeof node.$ref === "string") refs.push(node.$ref);
      Object.values(node).forEach(walk);
    }
  };
  walk(spec);
  const unresolved = refs.filter((ref) => {
    const target = ref.replace(/^#\//, "").split("/").reduce(
      (at: Json, key) => at?.[key.replace(/~1/g, "/").replace(/~0/g, "~")],
      spec,
    );
    return !ref.startsWith("#/") || target === undefined;
  });
  assertEquals([...new Set(unresolved)], [], "unresolved $refs");
  const schemes = Object.keys(spec.components.securitySchemes).sort();
  assertEquals(schemes, ["apiKey", "basic", "bearer", "postmarkServerToken"]);
  for (const { where, op } of operations(spec)) {
    for (const requirement of op.security ?? []) {
      for (const name of Object.keys(requirement)) {
        assert(schemes.includes(name), `${where}: unknown security scheme ${name}`);
      }
    }
  }
  const byId = new Map(operations(spec).map(({ op }) => [op.operationId, op]));
  // Per-operation security: a session only where credentials are minted, the bridge's key.
  assertEquals(byId.get("createApiKey").security, [{ bearer: [] }]);
  assertEquals(byId.get("sendEmail").security, [{ bearer: [] }, { apiKey: [] }]);
  assertEquals(byId.get("bridgeClaimOutbox").security, [{ apiKey: ["bridge"] }]);
  assertEquals(byId.get("postmarkSendEmail").security, [{ postmarkServerToken: [] }]);
  assertEquals(byId.get("login").security, undefined);
  gw.close();
});

Deno.test("issue18#3: the webhooks section lists every event Postern posts, from the sender's schemas", async () => {
  const gw = await createTestGateway();
  const spec = await (await gw.call("GET", "/openapi.json")).json();
  // Every subscribable type, and the test event an owner asks for.
  const posted = [...WEBHOOK_EVENT_TYPES.filter((t) => t !== "email.*"), "webhook.test"].sort();
  assertEquals(Object.keys(spec.webhooks).sort(), posted);
  assertEquals(Object.keys(WEBHOOK_EVENTS).sort(), posted);
  const delivered = spec.webhooks["email.delivered"].post;
  const headers = delivered.parameters.map((p: Json) => p.name).sort();
  assertEquals(headers, ["webhook-id", "webhook-signature", "webhook-timestamp"]);
  const body = delivered.requestBody.content["application/json"].schema;
  assertEquals(body.$ref, "#/components/schemas/WebhookEvent_email_delivered");
  const data = spec.components.schemas.EmailEventData;
  assert(data.properties.emailId.description, "event fields are described");
  // A payload shaped otherwise than documented is refused by the same schema.
  assert(!WebhookEvent.safeParse({ type: "email.delivered", timestamp: "x", data: {} }).success);
  gw.close();
});

const resolve = (spec: Json, node: Json): Json =>
  node?.$ref ? resolve(spec, spec.components.schemas[node.$ref.split("/").pop()]) : node;

Deno.test("issue18#3: every field and parameter in the document has a description", async () => {
  // Also the guard for fields added later: describe them (`.meta({ description })`) in the schema.
  const gw = await createTestGateway();
  const spec = await (await gw.call("GET", "/openapi.json")).json();
  const missing = new Set<string>();
  const seen = new Set<Json>();
  const walk = (node: Json, where: string) => {
    if (!node || typeof node !== "object" || seen.has(node)) return;
    seen.add(node);
    if (node.$ref) return walk(resolve(spec, node), node.$ref.split("/").pop());
    for (const [name, prop] of Object.entries((node.properties ?? {}) as Record<string, Json>)) {
      // A property that is a reference is described beside the $ref or by the component.
      if (!prop.description && !resolve(spec, prop)?.description) missing.add(`${where}.${name}`);
      walk(prop, `${where}.${name}`);
    }
    for (const key of ["items", "additionalProperties"]) walk(node[key], `${where}[]`);
    for (const key of ["anyOf", "oneOf", "allOf"]) {
      for (const part of node[key] ?? []) walk(part, where);
    }
  };
  for (const [name, schema] of Object.entries(spec.components.schemas as Record<string, Json>)) {
    walk(schema, name);
  }
  for (const { where, op } of operations(spec)) {
    for (const p of op.parameters ?? []) {
      if (!p.description && !p.schema?.description) missing.add(`${where} parameter ${p.name}`);
    }
    for (const media of Object.values((op.requestBody?.content ?? {}) as Record<string, Json>)) {
      walk(media.schema, `${where} body`);
    }
    for (const [status, res] of Object.entries((op.responses ?? {}) as Record<string, Json>)) {
      for (const media of Object.values((res.content ?? {}) as Record<string, Json>)) {
        walk(media.schema, `${where} ${status}`);
      }
    }
  }
  assertEquals([...missing], [], "fields without a description");
  gw.close();
});

const hasExample = (spec: Json, media: Json) => {
  const schema = resolve(spec, media?.schema);
  return media?.example !== undefined || media?.examples !== undefined ||
    schema?.example !== undefined || schema?.examples !== undefined;
};

Deno.test("issue18#3: the main operations show request, response and error examples", async () => {
  const gw = await createTestGateway();
  const spec = await (await gw.call("GET", "/openapi.json")).json();
  const byId = new Map(operations(spec).map(({ op }) => [op.operationId, op]));
  const main = [
    "login",
    "sendEmail",
    "sendEmailBatch",
    "getEmail",
    "listMailboxes",
    "createMailbox",
    "listMessages",
    "updateMessage",
    "updateMessagesBatch",
    "createWebhook",
    "saveTemplate",
    "previewTemplate",
    "listSuppressions",
    "createSuppression",
    "getAnalytics",
    "createApiKey",
    "resendSendEmail",
    "postmarkSendEmail",
  ];
  const lacking: string[] = [];
  for (const id of main) {
    const op = byId.get(id);
    const body = op.requestBody?.content?.["application/json"];
    if (body && !hasExample(spec, body)) lacking.push(`${id} request`);
    const [status, ok] = Object.entries(op.responses as Record<string, Json>)
      .find(([s]) => s.startsWith("2"))!;
    const media = ok.content?.["application/json"];
    if (media && !hasExample(spec, media)) lacking.push(`${id} ${status} response`);
  }
  assertEquals(lacking, []);
  const invalid = byId.get("sendEmail").responses["422"].content["application/problem+json"];
  assertEquals(invalid.example.code, "validation_failed");
  assert(invalid.example.errors.length > 0);
  gw.close();
});

Deno.test("issue18#3: every schema example in the document is valid for its own schema", () => {
  const examples = [
    TxSendRequest,
    TxSendResponse,
    BatchRequest,
    BatchResponse,
    TxEmailView,
    LoginRequest,
    TokenPair,
    ApiKeyRequest,
    NewApiKey,
    MailboxList,
    Mailbox,
    MailboxCreateRequest,
    MessagePage,
    MessageSummary,
    MessageUpdateRequest,
    MessageBatchRequest,
    MessageBatchResult,
    WebhookInput,
    WebhookWithSecret,
    TemplateInput,
    TemplateView,
    PreviewRequest,
    PreviewResponse,
    SuppressionInput,
    SuppressionList,
    SuppressionView,
    AnalyticsResponse,
    ResendSendRequest,
    ResendId,
    PostmarkEmail,
    PostmarkResult,
  ];
  for (const schema of examples) {
    const meta = schema.meta() as { id: string; example?: unknown };
    assert(meta.example !== undefined, `${meta.id} has an example`);
    const parsed = (schema as z.ZodType).safeParse(meta.example);
    assert(parsed.success, `${meta.id}: ${JSON.stringify(parsed.error?.issues)}`);
  }
});

Deno.test("published JSON Schemas are served and 404 for unknown names", async () => {
  const gw = await createTestGateway();
  const index = await (await gw.call("GET", "/schemas")).json();
  assert(index.schemas.some((s: { name: string }) => s.name === "SendRequest"));
  const send = await gw.call("GET", "/schemas/SendRequest.json");
  assertEquals(send.status, 200);
  const json = await send.json();
  const root = json.$ref ? json.$defs[json.$ref.split("/").pop()] : json;
  assertEquals(root.type, "object");
  assert(root.properties.from && root.properties.to);
  const missing = await gw.call("GET", "/schemas/__proto__.json");
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
  gw.close();
});

Deno.test("issue18#3: /docs serves its renderer itself, hash-named and cached for good, under a strict CSP", async () => {
  const gw = await createTestGateway();
  const res = await gw.call("GET", "/docs");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("cache-control"), "no-cache");
  const csp = res.headers.get("content-security-policy")!;
  const nonce = csp.match(/'nonce-([\w-]+)'/)?.[1];
  assert(nonce, csp);
  assert(/default-src 'none'/.test(csp) && /script-src 'self'(;|$)/.test(csp), csp);
  assert(!/unsafe-eval|script-src[^;]*unsafe-inline/.test(csp), csp);
  const page = await res.text();
  assert(page.includes(`<meta property="csp-nonce" content="${nonce}">`), "Scalar's nonce");
  assert(!/<script>|<script [^>]*>[^<]/.test(page), "no inline script");
  const scripts = [...page.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
  assertEquals(scripts.length, 2);
  for (const src of scripts) {
    assert(/^\/docs\/assets\/(scalar|init)\.[0-9a-f]{16}\.js$/.test(src), src);
    const asset = await gw.call("GET", src);
    assertEquals(asset.status, 200, src);
    assertEquals(asset.headers.get("cache-control"), "public, max-age=31536000, immutable");
    const etag = asset.headers.get("etag")!;
    assert((await asset.arrayBuffer()).byteLength > 100);
    const again = await gw.call("GET", src, { headers: { "if-none-match": etag } });
    assertEquals(again.status, 304);
    // Another version's URL is not this content.
    const stale = await gw.call("GET", src.replace(/\.[0-9a-f]{16}\./, ".0000000000000000."));
    assertEquals(stale.status, 404);
    await stale.body?.cancel();
  }
  assertEquals(page.match(/<script src="\/docs\/assets\/scalar/g)?.length, 1);
  // 4.7 MB of script travels gzipped to a browser that accepts it (and the document too).
  const bundle = scripts.find((src) => src.includes("/scalar."))!;
  const zipped = await gw.call("GET", bundle, { headers: { "accept-encoding": "gzip" } });
  assertEquals(zipped.headers.get("content-encoding"), "gzip");
  assertEquals(zipped.headers.get("vary"), "Accept-Encoding");
  await zipped.body?.cancel();
  const doc = await gw.call("GET", "/openapi.json", { headers: { "accept-encoding": "gzip" } });
  assertEquals(doc.headers.get("content-encoding"), "gzip");
  await doc.body?.cancel();
  gw.close();
});

Deno.test("issue18#3: /docs without bound static assets answers a clear page, not a broken one", async () => {
  const gw = await createTestGateway();
  const app = createApp({ ...gw.deps, assets: undefined });
  const res = await app.request("/docs");
  assertEquals(res.status, 503);
  const page = await res.text();
  assert(page.includes("no renderer") && page.includes('href="/openapi.json"'), page);
  assert(!page.includes("<script"), "nothing to run");
  const asset = await app.request("/docs/assets/scalar.0123456789abcdef.js");
  assertEquals(asset.status, 404);
  await asset.body?.cancel();
  // The document itself does not depend on the assets.
  assertEquals((await app.request("/openapi.json")).status, 200);
  gw.close();
});

Deno.test("/.well-known/mta-sts.txt serves the policy for mta-sts.<local domain> only", async () => {
  const gw = await createTestGateway();
  const ok = await gw.call("GET", "/.well-known/mta-sts.txt", {
    headers: { host: "mta-sts.postern.test" },
  });
  assertEquals(ok.status, 200);
  const policy = await ok.text();
  assert(policy.startsWith("version: STSv1\r\n"), policy);
  assert(/\r\nmx: postern\.test\r\n/.test(policy), policy);
  const other = await gw.call("GET", "/.well-known/mta-sts.txt", {
    headers: { host: "mta-sts.elsewhere.example" },
  });
  assertEquals(other.status, 404);
  await other.body?.cancel();
  gw.close();
});

Deno.test("issue18#3: every /v1 error response is problem+json, and every /v1 operation that needs a credential documents its 401", async () => {
  const gw = await createTestGateway();
  const spec = await (await gw.call("GET", "/openapi.json")).json();
  const problems: string[] = [];
  for (const { where, op } of operations(spec)) {
    if (!where.startsWith("paths") || !where.includes(" /v1/")) continue;
    for (const [status, res] of Object.entries((op.responses ?? {}) as Record<string, Json>)) {
      if (!/^[45]/.test(status)) continue;
      const types = Object.keys(res.content ?? {});
      if (!types.includes("application/problem+json")) {
        problems.push(`${where} ${status}: ${types.join(", ") || "no body"}`);
      }
    }
    const secured = (op.security ?? spec.security ?? []).length > 0;
    if (secured && !op.responses?.["401"]) problems.push(`${where}: no 401`);
  }
  assertEquals(problems, []);
  gw.close();
});

import { assert, assertEquals } from "./fixtures/assert.ts";
import { createTestGateway } from "./fixtures/app.ts";

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

Deno.test("/docs serves its own assets (works offline)", async () => {
  const gw = await createTestGateway();
  const page = await (await gw.call("GET", "/docs")).text();
  const assets = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  assert(assets.length >= 2);
  for (const asset of assets) {
    assert(asset.startsWith("/"), `asset ${asset} must be served by the gateway, not a CDN`);
    const res = await gw.call("GET", asset);
    assertEquals(res.status, 200, asset);
    await res.body?.cancel();
  }
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

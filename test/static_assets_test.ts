/**
 * The static-assets seam behind `/docs` (issue 18 item 3): the Deno/Bun host's port reads the
 * renderer from node_modules (hosts/process/static_assets.ts); a Worker's port fetches it from its assets
 * binding (src/http/fetcher_assets.ts). Both must name the same bytes with the same hash, and
 * `/docs` must work through either. The "binding" here is a real HTTP server on a socket serving
 * the file by name, as Workers static assets would.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { createTestGateway } from "./fixtures/app.ts";
import { nodeModulesAssets } from "../hosts/process/static_assets.ts";
import { fetcherAssets } from "../src/http/fetcher_assets.ts";
import { createApp } from "../src/app.ts";
import { DOCS_RENDERER } from "../src/routes/docs.ts";

const BUNDLE = new URL(
  "../node_modules/@scalar/api-reference/dist/browser/standalone.js",
  import.meta.url,
);

Deno.test("issue18#3: the node_modules and assets-binding ports serve the same renderer under the same hash", async () => {
  const bytes = await Deno.readFile(BUNDLE);
  let requests = 0;
  let up = false;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    requests++;
    const name = decodeURIComponent(new URL(req.url).pathname.slice(1));
    if (!up) return new Response("not deployed yet", { status: 503 });
    return name === DOCS_RENDERER ? new Response(bytes) : new Response("no", { status: 404 });
  });
  const origin = `http://127.0.0.1:${server.addr.port}`;
  try {
    const binding = fetcherAssets({ fetch: (req) => fetch(req) }, origin);
    // A binding that fails is not remembered as "no renderer" for good.
    assertEquals(await binding.get(DOCS_RENDERER), undefined);
    up = true;
    const fromBinding = await binding.get(DOCS_RENDERER);
    const fromDisk = await nodeModulesAssets().get(DOCS_RENDERER);
    assert(fromBinding && fromDisk);
    assertEquals(fromBinding.hash, fromDisk.hash);
    assertEquals(fromBinding.contentType, "text/javascript; charset=utf-8");
    const served = new Uint8Array(await new Response(await fromBinding.body()).arrayBuffer());
    assertEquals(served.byteLength, bytes.byteLength);
    assertEquals(await binding.get("unknown.js"), undefined);
    assertEquals(await nodeModulesAssets().get("unknown.js"), undefined);
    const before = requests;
    await binding.get(DOCS_RENDERER);
    assertEquals(requests, before, "the hash is computed once per isolate");

    // /docs through the binding: the page names the bundle by the same hash and serves it.
    const gw = await createTestGateway();
    try {
      const app = createApp({ ...gw.deps, assets: binding });
      const page = await (await app.request("/docs")).text();
      const src = page.match(/<script src="(\/docs\/assets\/scalar\.[0-9a-f]{16}\.js)"/)?.[1];
      assertEquals(src, `/docs/assets/scalar.${fromDisk.hash.slice(0, 16)}.js`);
      const asset = await app.request(src!);
      assertEquals(asset.status, 200);
      assertEquals((await asset.arrayBuffer()).byteLength, bytes.byteLength);
    } finally {
      gw.close();
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("issue18#3: a missing node_modules bundle is an absent asset, not an error", async () => {
  const empty = await Deno.makeTempDir();
  try {
    const port = nodeModulesAssets(new URL(`file://${empty}/`));
    assertEquals(await port.get(DOCS_RENDERER), undefined);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

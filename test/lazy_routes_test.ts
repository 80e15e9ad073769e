import { Hono } from "hono";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { createTestGateway } from "./fixtures/app.ts";
import { LazyRoutes } from "../src/http/lazy_routes.ts";

/** A request path that a route pattern answers (`:id` and `*` filled in). */
const concrete = (pattern: string) =>
  pattern.replace(/:[^/]+/g, "1").replace(/\*$/, "1").replace(/\/$/, "");

/** Whether any of `patterns` answers `path`, by Hono's own matching. */
async function matches(patterns: string[], path: string): Promise<boolean> {
  const probe = new Hono();
  for (const p of patterns) probe.all(p, (c) => c.text("hit"));
  return (await probe.request(path)).status === 200;
}

Deno.test("issue 20: every lazily built route group answers only its own paths, and no eager route answers them", async () => {
  const gw = await createTestGateway();
  try {
    const lazy = LazyRoutes.of(gw.app);
    assert(lazy, "createApp mounts lazy groups");
    const routers = await lazy.routers();
    assert(routers.length >= 5, `expected the rare groups to be lazy, got ${routers.length}`);
    const lazyPaths = lazy.paths();
    let checked = 0;
    for (const router of routers) {
      for (const r of router.routes) {
        if (r.path === "/*") continue; // the context's hand-over
        assert(await matches(lazyPaths, concrete(r.path)), `${r.path}: outside the lazy paths`);
        checked++;
      }
    }
    assert(checked > 30, `expected many lazily built routes, got ${checked}`);
    // Every route or middleware mounted at start, other than the stand-ins and the app-wide
    // middleware, must answer none of the lazy paths: the stand-in would hide it, or it would
    // run where it did not before.
    const standIns = new Set(lazyPaths);
    for (const r of gw.app.routes) {
      if (r.path === "/*" || r.path === "*" || (r.method === "ALL" && standIns.has(r.path))) {
        continue;
      }
      const own = new Hono();
      own.all(r.path, (c) => c.text("hit"));
      for (const p of lazyPaths) {
        const hit = (await own.request(concrete(p))).status === 200;
        assert(!hit, `${r.method} ${r.path} answers the lazy path ${p}`);
      }
    }
  } finally {
    gw.close();
  }
});

Deno.test("issue 20: a lazily built group answers its first request with the app's context and errors", async () => {
  const gw = await createTestGateway();
  try {
    // Unauthenticated: the group's own middleware answers, as problem+json with the request id.
    const res = await gw.call("GET", "/v1/admin/accounts", {
      headers: { "x-request-id": "lazy-1" },
    });
    assertEquals(res.status, 401);
    assertEquals(res.headers.get("x-request-id"), "lazy-1");
    assertEquals(res.headers.get("content-type"), "application/problem+json");
    await res.body?.cancel();
    // A path inside a lazy group that no route of it answers: the app's own 404.
    const missing = await gw.call("GET", "/jmap/nothing-here");
    assertEquals(missing.status, 404);
    assertEquals((await missing.json()).code, "not_found");
  } finally {
    gw.close();
  }
});

Deno.test("issue 20: /openapi.json documents the lazily built groups before any of them was used", async () => {
  const gw = await createTestGateway();
  try {
    const spec = await (await gw.call("GET", "/openapi.json")).json();
    for (const path of ["/v1/admin/accounts", "/v1/queue", "/v1/templates", "/v1/sieve/scripts"]) {
      assert(spec.paths[path], `${path} documented`);
    }
    // Asked again, each operation is there once.
    const again = await (await gw.call("GET", "/openapi.json")).json();
    assertEquals(Object.keys(again.paths), Object.keys(spec.paths));
  } finally {
    gw.close();
  }
});

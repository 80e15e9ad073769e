import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import type { Deps } from "../deps.ts";
import { guardedFetch, RefusedTarget } from "./net_guard.ts";

Deno.test("issue15#3: at the edge (no pinning port) the DNS port's answers are checked first", async () => {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (r) => {
    hits.push(r.url);
    return new Response("internal");
  });
  const port = server.addr.port;
  const deps = {
    federation: {
      dns: { txt: () => Promise.resolve([]), addresses: () => Promise.resolve(["::ffff:7f00:1"]) },
    },
  } as unknown as Deps;
  const open = { allowPrivate: false };
  try {
    for (
      const url of [`http://hooks.example.test:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`]
    ) {
      const e = await guardedFetch(deps, undefined, new Request(url), open).catch((e) => e);
      assert(e instanceof RefusedTarget, `${url}: ${e}`);
    }
    assertEquals(hits, []);
    const res = await guardedFetch(deps, undefined, new Request(`http://127.0.0.1:${port}/`), {
      allowPrivate: true,
    });
    assertEquals([res.status, await res.text()], [200, "internal"]);
  } finally {
    await server.shutdown();
  }
});

/**
 * Issue 20 (a): request validation takes zod's synchronous parse (src/http/sync_parse.ts) and
 * answers exactly as the asynchronous one did: the same data, the same problem+json for bad
 * input, and a schema with an asynchronous refinement still checked (by the async parse).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { newRouter } from "../src/http/router.ts";
import { syncFirst } from "../src/http/sync_parse.ts";
import { TxSendRequest } from "../schemas/tx_send.ts";

Deno.test("issue20#a: a route's body is validated by zod's synchronous parse, with the same answers", async () => {
  const Body = z.object({ name: z.string().min(2), count: z.number().int().default(1) });
  let syncCalls = 0;
  const parse = Body.safeParse.bind(Body);
  Body.safeParse = ((data: unknown, params?: unknown) => {
    syncCalls++;
    return parse(data, params as never);
  }) as typeof Body.safeParse;
  const app = newRouter();
  app.openapi(
    createRoute({
      method: "post",
      path: "/t",
      request: { body: { content: { "application/json": { schema: Body } }, required: true } },
      responses: { 200: { description: "ok" } },
    }),
    (c) => c.json(c.req.valid("json"), 200),
  );
  const post = (body: unknown) =>
    app.request("/t", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const good = await post({ name: "ab" });
  assertEquals(good.status, 200);
  assertEquals(await good.json(), { name: "ab", count: 1 });
  const bad = await post({ name: "a", count: 1.5 });
  assertEquals(bad.status, 422);
  const problem = await bad.json();
  assertEquals(problem.code, "validation_failed");
  assertEquals(problem.errors.map((e: { path: string }) => e.path).sort(), ["count", "name"]);
  assertEquals(syncCalls, 2);
});

Deno.test("issue20#a: a schema with an asynchronous refinement is still checked, by the async parse", async () => {
  const Body = z.object({ name: z.string() }).refine(
    async (v) => {
      await Promise.resolve();
      return v.name !== "taken";
    },
    { message: "the name is taken", path: ["name"] },
  );
  syncFirst(Body);
  const ok = await Body.safeParseAsync({ name: "free" });
  assert(ok.success);
  const refused = await Body.safeParseAsync({ name: "taken" });
  assert(!refused.success);
  assertEquals(refused.error.issues[0].message, "the name is taken");
});

Deno.test("issue20#a: the send API's schema answers the same synchronously and asynchronously", async () => {
  const bodies = [
    { from: "a@b.example", to: ["x@y.example"], subject: "s", text: "t" },
    { from: "not an address", to: [], subject: 5 },
    {
      from: { name: "A", address: "a@b.example" },
      to: ["x@y.example"],
      html: "<b>hi</b>",
      attachments: [{ filename: "f.txt", content: "aGVsbG8=" }],
      tags: ["t"],
    },
  ];
  for (const body of bodies) {
    const sync = TxSendRequest.safeParse(structuredClone(body));
    const asynchronous = await TxSendRequest.safeParseAsync(structuredClone(body));
    assertEquals(JSON.stringify(sync), JSON.stringify(asynchronous));
  }
});

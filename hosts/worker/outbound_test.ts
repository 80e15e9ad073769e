import { assertEquals, assertRejects } from "../../test/fixtures/assert.ts";
import type { DnsPort } from "../../src/ports.ts";
import { RefusedTarget } from "../../schemas/public_address.ts";
import { workerFetch } from "./outbound.ts";

const dns = (answers: Record<string, string[]>): DnsPort => ({
  txt: () => Promise.resolve([]),
  addresses: (name) => Promise.resolve(answers[name] ?? []),
  mx: () => Promise.resolve([]),
  srv: () => Promise.resolve([]),
});

Deno.test("issue17#1: the Worker's outbound fetch refuses what SSRF would reach", async () => {
  const fetched: string[] = [];
  const platform = ((request: Request) => {
    fetched.push(`${request.url} ${request.redirect}`);
    return Promise.resolve(new Response("ok"));
  }) as typeof fetch;
  const port = workerFetch(
    dns({ "public.example": ["93.184.215.14"], "inside.example": ["10.0.0.5"] }),
    platform,
  );
  const strict = { allowPrivate: false };
  for (
    const url of [
      "https://127.0.0.1/hook", // loopback literal
      "https://[::1]/hook",
      "https://169.254.169.254/latest/meta-data", // link-local (cloud metadata)
      "https://10.1.2.3/", // private literal
      "https://localhost/",
      "https://inside.example/", // a name that resolves inside a network
      "http://public.example/", // plain HTTP at the edge
      "https://nothing.example/", // no address at all
    ]
  ) {
    await assertRejects(() => port(new Request(url), strict), Error);
  }
  await assertRejects(() => port(new Request("http://public.example/"), strict), RefusedTarget);
  assertEquals(fetched, []);
  const res = await port(new Request("https://public.example/hook"), strict);
  assertEquals(await res.text(), "ok");
  // The allow-private switch (tests, labs) lets loopback through; federation stays https only.
  await port(new Request("https://127.0.0.1:8443/x"), { allowPrivate: true });
  await assertRejects(
    () => port(new Request("http://127.0.0.1/x"), { allowPrivate: true, httpsOnly: true }),
    RefusedTarget,
  );
  assertEquals(fetched, ["https://public.example/hook manual", "https://127.0.0.1:8443/x manual"]);
});

/**
 * The worker fetch tunnel (bridge/fetch_tunnel.ts) over a MessageChannel: requests and
 * responses arrive byte for byte, event streams flow in chunks and a cancel reaches the
 * server's stream, and a failing handler is a rejected fetch (the bridge's "unreachable").
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { tunnelClient, tunnelServer } from "../bridge/fetch_tunnel.ts";
import type { FetchLike } from "../bridge/gateway_client.ts";

function connect(handler: FetchLike) {
  const channel = new MessageChannel();
  const client = tunnelClient(channel.port1);
  const server = tunnelServer(channel.port2, handler);
  channel.port1.onmessage = (e) => client.onMessage(e.data);
  channel.port2.onmessage = (e) => server.onMessage(e.data);
  return {
    fetch: client.fetch,
    server,
    close: () => (channel.port1.close(), channel.port2.close()),
  };
}

Deno.test("tunnel: method, URL, headers and body bytes go over; status, headers and body come back", async () => {
  const seen: { method: string; url: string; type: string | null; body: Uint8Array }[] = [];
  const t = connect(async (req) => {
    seen.push({
      method: req.method,
      url: req.url,
      type: req.headers.get("content-type"),
      body: new Uint8Array(await req.arrayBuffer()),
    });
    return Response.json({ ok: true }, { status: 201, headers: { "x-request-id": "r1" } });
  });
  const bytes = new Uint8Array(70_000).map((_, i) => i % 251);
  const res = await t.fetch(
    new Request("http://in-process.postern/v1/bridge/inbound", {
      method: "POST",
      headers: { "content-type": "application/vnd.postern.mail" },
      body: bytes,
    }),
  );
  assertEquals(res.status, 201);
  assertEquals(res.headers.get("x-request-id"), "r1");
  assertEquals(await res.json(), { ok: true });
  assertEquals(seen[0].method, "POST");
  assertEquals(seen[0].url, "http://in-process.postern/v1/bridge/inbound");
  assertEquals(seen[0].type, "application/vnd.postern.mail");
  assertEquals(seen[0].body, bytes);
  const empty = await t.fetch(new Request("http://in-process.postern/health"));
  assertEquals(empty.status, 201);
  await empty.body?.cancel();
  t.close();
});

Deno.test("tunnel: an event stream comes in chunks and a cancel reaches the server", async () => {
  let cancelled!: () => void;
  const cancelledP = new Promise<void>((r) => (cancelled = r));
  const t = connect(() => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        await new Promise((r) => setTimeout(r, 5));
        controller.enqueue(new TextEncoder().encode(`event: e\ndata: ${++n}\n\n`));
      },
      cancel: () => cancelled(),
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const res = await t.fetch(new Request("http://in-process.postern/v1/events"));
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("data: 3")) text += (await reader.read()).value;
  assert(text.startsWith("event: e\ndata: 1\n\n"), text);
  await reader.cancel();
  await cancelledP;
  t.close();
});

Deno.test("tunnel: a handler that throws is a rejected fetch", async () => {
  const t = connect(() => {
    throw new Error("store closed");
  });
  let error: unknown;
  try {
    await t.fetch(new Request("http://in-process.postern/v1/bridge/recipient", { method: "POST" }));
  } catch (e) {
    error = e;
  }
  assert(error instanceof Error && error.message.includes("store closed"));
  t.close();
});

Deno.test("tunnel: closing the server end cancels the event streams still open", async () => {
  let cancelled!: () => void;
  const cancelledP = new Promise<void>((r) => (cancelled = r));
  const t = connect(() =>
    new Response(
      new ReadableStream<Uint8Array>({ pull: () => {}, cancel: () => cancelled() }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  const res = await t.fetch(new Request("http://in-process.postern/v1/events"));
  assertEquals(res.status, 200);
  await new Promise((r) => setTimeout(r, 10)); // the server has started reading
  t.server.close();
  await cancelledP;
  t.close();
});

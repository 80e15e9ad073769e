/**
 * A fetch over a message port (Worker `postMessage`): the bridge runs in a worker thread and
 * calls the gateway app, which stays on the main thread, with the same HTTP contract as
 * in-process. Requests go over whole (bridge requests are small, or one message's bytes);
 * responses come back whole in one message, except event streams (`text/event-stream`, IMAP
 * IDLE), which come in chunks until the end or until the worker cancels. Buffers are transferred,
 * not copied. Web APIs only, so it runs on Deno and Bun alike.
 */
import type { FetchLike } from "./gateway_client.ts";

/** The two ends' common shape: a Worker, or a worker's global scope. */
export interface Port {
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

type Head = { status: number; statusText: string; headers: [string, string][] };

/** Worker → main. */
export type TunnelRequest =
  | {
    tunnel: "request";
    id: number;
    method: string;
    url: string;
    headers: [string, string][];
    body: ArrayBuffer | null;
  }
  | { tunnel: "cancel"; id: number };

/** Main → worker. */
export type TunnelResponse =
  | ({ tunnel: "response"; id: number; body: ArrayBuffer | null } & Head)
  | ({ tunnel: "head"; id: number } & Head)
  | { tunnel: "chunk"; id: number; data: ArrayBuffer }
  | { tunnel: "end"; id: number }
  | { tunnel: "error"; id: number; message: string };

const isTunnel = (m: unknown): m is { tunnel: string; id: number } =>
  typeof m === "object" && m !== null && typeof (m as { tunnel?: unknown }).tunnel === "string";

const ownBuffer = (bytes: Uint8Array): ArrayBuffer =>
  bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
    bytes.buffer instanceof ArrayBuffer
    ? bytes.buffer
    : bytes.slice().buffer as ArrayBuffer;

/**
 * The worker's end: a FetchLike whose requests the main thread answers. Feed it every message
 * the worker receives (`onMessage` returns false for messages that are not the tunnel's).
 */
export function tunnelClient(port: Port): { fetch: FetchLike; onMessage(data: unknown): boolean } {
  let next = 0;
  const waiting = new Map<number, {
    resolve(res: Response): void;
    reject(e: Error): void;
    stream?: ReadableStreamDefaultController<Uint8Array>;
  }>();

  const fetch: FetchLike = async (request) => {
    const id = ++next;
    const body = request.body ? await request.arrayBuffer() : null;
    return await new Promise<Response>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      const message: TunnelRequest = {
        tunnel: "request",
        id,
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        body,
      };
      port.postMessage(message, body ? [body] : []);
    });
  };

  const onMessage = (data: unknown): boolean => {
    if (!isTunnel(data)) return false;
    const m = data as TunnelResponse;
    const w = waiting.get(m.id);
    if (!w) return true;
    switch (m.tunnel) {
      case "response":
        waiting.delete(m.id);
        w.resolve(
          new Response(m.body, { status: m.status, statusText: m.statusText, headers: m.headers }),
        );
        break;
      case "head": {
        const body = new ReadableStream<Uint8Array>({
          start: (controller) => void (w.stream = controller),
          cancel: () => {
            waiting.delete(m.id);
            port.postMessage({ tunnel: "cancel", id: m.id } satisfies TunnelRequest);
          },
        });
        w.resolve(
          new Response(body, { status: m.status, statusText: m.statusText, headers: m.headers }),
        );
        break;
      }
      case "chunk":
        w.stream?.enqueue(new Uint8Array(m.data));
        break;
      case "end":
        waiting.delete(m.id);
        w.stream?.close();
        break;
      case "error":
        waiting.delete(m.id);
        if (w.stream) w.stream.error(new Error(m.message));
        else w.reject(new Error(m.message));
        break;
    }
    return true;
  };
  return { fetch, onMessage };
}

/**
 * The main thread's end: answers the worker's requests with `handler` (the app's fetch). Feed
 * `onMessage` every message from the worker (false for messages that are not the tunnel's);
 * `close` cancels the event streams still open (the worker is gone).
 */
export function tunnelServer(
  port: Port,
  handler: FetchLike,
): { onMessage(data: unknown): boolean; close(): void } {
  const streams = new Map<number, ReadableStreamDefaultReader<Uint8Array>>();

  const answer = async (m: Extract<TunnelRequest, { tunnel: "request" }>) => {
    let res: Response;
    try {
      res = await handler(
        new Request(m.url, { method: m.method, headers: m.headers, body: m.body }),
      );
    } catch (e) {
      port.postMessage({ tunnel: "error", id: m.id, message: String((e as Error)?.message ?? e) });
      return;
    }
    const head: Head = {
      status: res.status,
      statusText: res.statusText,
      headers: [...res.headers],
    };
    const type = res.headers.get("content-type") ?? "";
    if (!res.body || !type.startsWith("text/event-stream")) {
      // Everything but an event stream is finite: one message, the buffer transferred.
      const body = res.body ? await res.arrayBuffer() : null;
      const out: TunnelResponse = { tunnel: "response", id: m.id, body, ...head };
      port.postMessage(out, body ? [body] : []);
      return;
    }
    port.postMessage({ tunnel: "head", id: m.id, ...head } satisfies TunnelResponse);
    const reader = res.body.getReader();
    streams.set(m.id, reader);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const data = ownBuffer(value);
        port.postMessage({ tunnel: "chunk", id: m.id, data } satisfies TunnelResponse, [data]);
      }
      port.postMessage({ tunnel: "end", id: m.id } satisfies TunnelResponse);
    } catch (e) {
      port.postMessage({ tunnel: "error", id: m.id, message: String((e as Error)?.message ?? e) });
    } finally {
      streams.delete(m.id);
    }
  };

  const onMessage = (data: unknown): boolean => {
    if (!isTunnel(data)) return false;
    const m = data as TunnelRequest;
    if (m.tunnel === "request") void answer(m);
    else if (m.tunnel === "cancel") void streams.get(m.id)?.cancel().catch(() => {});
    return true;
  };
  const close = () => {
    for (const reader of streams.values()) void reader.cancel().catch(() => {});
    streams.clear();
  };
  return { onMessage, close };
}

/**
 * The MIME port on a worker thread, for `postern serve`: parsing received mail and composing
 * sent mail are the largest pieces of JavaScript work per message that need nothing from the
 * database, so they run beside the event loop instead of on it (the second core). The worker
 * starts on first use (an idle server does not carry it); if it cannot run, the port falls back
 * to the main thread. Attachments of stored messages are read on the main thread (rare).
 */
import type { ComposeInput, ParsedMail } from "../schemas/mail.ts";
import type { MimePort } from "../src/ports.ts";
import { rememberSha256 } from "../src/crypto.ts";
import { createNodeMime } from "./mime_node.ts";

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  /** SHA-256 (hex) of the message's bytes: composed, or parsed. */
  sha?: string;
  error?: string;
}

export function createThreadedMime(): MimePort & { close(): void } {
  const local = createNodeMime();
  const pending = new Map<
    number,
    { resolve(v: unknown): void; reject(e: Error): void; digestOf?: Uint8Array }
  >();
  let worker: Worker | undefined;
  let broken = false;
  let nextId = 1;

  const start = () => {
    const w = new Worker(new URL("./mime_worker.ts", import.meta.url).href, { type: "module" });
    w.onmessage = ({ data }: MessageEvent<Reply>) => {
      const call = pending.get(data.id);
      if (!call) return;
      pending.delete(data.id);
      if (data.ok && data.sha) {
        // The delivery path hashes these bytes next: it finds the digest (src/crypto.ts).
        rememberSha256(call.digestOf ?? data.value as Uint8Array, data.sha);
      }
      if (data.ok) call.resolve(data.value);
      else call.reject(new Error(data.error));
    };
    w.onerror = (event) => {
      // The worker died: what it held fails (callers answer 4xx/5xx), later calls run here.
      event.preventDefault?.();
      broken = true;
      worker = undefined;
      for (const call of pending.values()) call.reject(new Error("the MIME worker stopped"));
      pending.clear();
    };
    return w;
  };

  const call = <T>(op: "parse" | "compose", arg: unknown, digestOf?: Uint8Array) =>
    new Promise<T>((resolve, reject) => {
      worker ??= start();
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, digestOf });
      worker.postMessage({ id, op, arg });
    });

  return {
    parse(raw: Uint8Array): Promise<ParsedMail> {
      if (broken) return local.parse(raw);
      // Structured cloning copies a view's whole buffer: send only the message's bytes.
      const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
      return call<ParsedMail>("parse", own ? raw : raw.slice(), raw);
    },
    compose(input: ComposeInput): Promise<Uint8Array> {
      return broken ? local.compose(input) : call<Uint8Array>("compose", input);
    },
    attachment: (raw, index) => local.attachment(raw, index),
    close() {
      worker?.terminate();
      worker = undefined;
      for (const call of pending.values()) call.reject(new Error("the MIME port was closed"));
      pending.clear();
    },
  };
}

/**
 * The MIME port on a worker thread, for `postern serve`: parsing received mail (and composing
 * sent mail with attachments; src/mime/compose.ts builds the rest) is the largest piece of
 * JavaScript work per message that needs nothing from the database, so it runs beside the
 * event loop instead of on it (the second core). The worker
 * starts on first use (an idle server does not carry it); if it cannot run, the port falls back
 * to the main thread. Attachments of stored messages are read on the main thread (rare), and
 * plain and text+HTML messages are read there too, by src/mime/parse_simple.ts (faster than the
 * trip).
 */
import { createHash } from "node:crypto";
import type { ComposeInput, ParsedMail } from "../../schemas/mail.ts";
import type { MimePort } from "../../src/ports.ts";
import { rememberSha256 } from "../../src/crypto.ts";
import { parseSimpleMail } from "../../src/mime/parse_simple.ts";
import {
  createNodeMime,
  DEFAULT_MIME_LIMITS,
  LARGE_MESSAGE_BYTES,
  type MimeLimits,
} from "./mime_node.ts";
import { workerRpc } from "./worker_rpc.ts";

export function createThreadedMime(
  limits: MimeLimits = DEFAULT_MIME_LIMITS,
): MimePort & { close(): void } {
  // parse() below tries the fast parser first; neither thread's mailparser path repeats it.
  const local = createNodeMime({ simpleFirst: false, limits });
  const rpc = workerRpc(new URL("./mime_worker.ts", import.meta.url), "MIME");

  /** The worker's answer; its `sha` (of the message's bytes) is remembered for `digestOf`. */
  const call = async <T>(op: "parse" | "compose", arg: unknown, digestOf?: Uint8Array) => {
    const reply = await rpc.call({ op, arg, limits });
    if (typeof reply.sha === "string") {
      // The delivery path hashes these bytes next: it finds the digest (src/crypto.ts).
      rememberSha256(digestOf ?? reply.value as Uint8Array, reply.sha);
    }
    return reply.value as T;
  };

  return {
    parse(raw: Uint8Array): Promise<ParsedMail> {
      // A plain or text+HTML message is read here in microseconds: no round trip to the worker.
      const simple = parseSimpleMail(raw);
      if (simple) {
        // The delivery path hashes these bytes next; the runtime's native SHA-256 takes a third
        // of the time of the gateway's portable one (src/crypto.ts).
        rememberSha256(raw, createHash("sha256").update(raw).digest("hex"));
        return Promise.resolve(simple);
      }
      // A large message is read here, streamed, its attachments counted and dropped
      // (mime_large.ts): the trip to the worker would copy all of it twice.
      if (raw.byteLength > LARGE_MESSAGE_BYTES) {
        rememberSha256(raw, createHash("sha256").update(raw).digest("hex"));
        return local.parse(raw);
      }
      if (rpc.broken) return local.parse(raw);
      // Structured cloning copies a view's whole buffer: send only the message's bytes.
      const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
      return call<ParsedMail>("parse", own ? raw : raw.slice(), raw);
    },
    compose(input: ComposeInput): Promise<Uint8Array> {
      return rpc.broken ? local.compose(input) : call<Uint8Array>("compose", input);
    },
    attachment: (raw, index) => local.attachment(raw, index),
    close: () => rpc.close(),
  };
}

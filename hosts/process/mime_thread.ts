/**
 * The MIME port for `postern serve`: the edge port (src/mime/edge_port.ts: parse_simple.ts, then
 * parse_full.ts; compose_full.ts), the same code the Worker and Deno Deploy hosts run, and 4–10×
 * faster than mailparser and nodemailer, which serve no longer loads (mime_node.ts keeps them
 * for the differential tests). Plain and text+HTML mail (parse_simple.ts, microseconds) and other
 * small messages are read on this thread: for a message of a few KB the trip to a worker
 * (copying the bytes there and the parsed form back) costs this thread as much as the parse
 * itself (HANDOFF_BYTES). Larger messages, up to LARGE_MESSAGE_BYTES (larger ones are read here:
 * see parse()), and composes with large attachments run on a worker thread (the second core), which starts on first use (an idle
 * server does not carry it); if it cannot run, the work falls back to this thread. A call the
 * worker does not answer within `timeoutMs` fails that one message with a temporary error
 * (worker_rpc.ts) instead of holding its connection for ever. Attachments of stored messages
 * are read on this thread (rare).
 */
import { createHash } from "node:crypto";
import type { ComposeInput, ParsedMail } from "../../schemas/mail.ts";
import type { MimePort } from "../../src/ports.ts";
import { rememberSha256 } from "../../src/crypto.ts";
import { edgeMimePort } from "../../src/mime/edge_port.ts";
import { contentSize } from "../../src/mime/base64_text.ts";
import { parseSimpleMail } from "../../src/mime/parse_simple.ts";
import { DEFAULT_MIME_LIMITS, LARGE_MESSAGE_BYTES, type MimeLimits } from "./mime_limits.ts";
import { workerRpc } from "./worker_rpc.ts";

/**
 * Above this many bytes a message that is not plain (or a compose's text and attachments) goes
 * to the worker. Measured with bench/mime_host.ts (`sizes`, a multipart with a base64
 * attachment, this thread's CPU per message): the hand-off costs this thread about 90–110 µs
 * whatever the size, parsing here 90 µs at 2 KB, 110 µs at 9 KB, 135 µs at 17 KB, 310 µs at
 * 68 KB, 780 µs at 270 KB. Below 16 KB both cost this thread the same and the trip triples the
 * process's CPU (copies, two event loops); above it the trip saves this thread more the larger
 * the message.
 */
export const HANDOFF_BYTES = 16 * 1024;

/** How long a worker call may take before it fails (a 25 MB message parses in well under 1 s). */
export const MIME_CALL_TIMEOUT_MS = 30_000;

export interface ThreadedMimeOptions {
  /** Work above this size goes to the worker (default HANDOFF_BYTES; 0: all it may take). */
  handoffBytes?: number;
  /** A worker call unanswered after this long fails (default MIME_CALL_TIMEOUT_MS). */
  timeoutMs?: number;
  /** The worker's module (default mime_worker.ts; tests pass one that never answers). */
  workerUrl?: URL;
}

export function createThreadedMime(
  limits: MimeLimits = DEFAULT_MIME_LIMITS,
  options: ThreadedMimeOptions = {},
): MimePort & { close(): void } {
  const { handoffBytes = HANDOFF_BYTES, timeoutMs = MIME_CALL_TIMEOUT_MS } = options;
  const workerUrl = options.workerUrl ?? new URL("./mime_worker.ts", import.meta.url);
  const local = edgeMimePort({ limits });
  // parse() above has tried parse_simple.ts already.
  const full = edgeMimePort({ limits, simpleFirst: false });
  const rpc = workerRpc(workerUrl, "MIME");
  // The delivery path hashes a message's bytes next; the runtime's native SHA-256 takes a third
  // of the time of the gateway's portable one (src/crypto.ts), so it is found, not recomputed.
  const remember = (raw: Uint8Array) =>
    rememberSha256(raw, createHash("sha256").update(raw).digest("hex"));

  /** The worker's answer; its `sha` (of the message's bytes) is remembered for `digestOf`. */
  const call = async <T>(op: "parse" | "compose", arg: unknown, digestOf?: Uint8Array) => {
    const reply = await rpc.call({ op, arg, limits }, [], timeoutMs);
    if (typeof reply.sha === "string") {
      rememberSha256(digestOf ?? reply.value as Uint8Array, reply.sha);
    }
    return reply.value as T;
  };

  return {
    parse(raw: Uint8Array): Promise<ParsedMail> {
      // A large message is read here: the trip would copy all of it into the worker's heap
      // (bench/run.ts section l, three concurrent 25 MB messages over SMTP: peak RSS 409–427 MiB
      // through the worker, 336 MiB here, 322 MiB with mailparser here before), and the edge
      // port reads 25 MB in about 60 ms, its attachments counted, not decoded.
      if (raw.byteLength > LARGE_MESSAGE_BYTES || rpc.broken) {
        remember(raw);
        return local.parse(raw);
      }
      // A plain or text+HTML message is read here in microseconds, and so is a small one.
      const simple = parseSimpleMail(raw);
      if (simple || raw.byteLength <= handoffBytes) {
        remember(raw);
        return simple ? Promise.resolve(simple) : full.parse(raw);
      }
      // Structured cloning copies a view's whole buffer: send only the message's bytes.
      const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
      return call<ParsedMail>("parse", own ? raw : raw.slice(), raw);
    },
    async compose(input: ComposeInput): Promise<Uint8Array> {
      const size = input.attachments.reduce(
        (n, a) => n + contentSize(a.content),
        (input.text?.length ?? 0) + (input.html?.length ?? 0),
      );
      if (size > handoffBytes && !rpc.broken) return await call<Uint8Array>("compose", input);
      const raw = await local.compose(input);
      remember(raw);
      return raw;
    },
    attachment: (raw, index) => local.attachment(raw, index),
    close: () => rpc.close(),
  };
}

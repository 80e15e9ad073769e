/**
 * Worker thread for the MIME port (hosts/process/mime_thread.ts): parses the messages of 16 KB
 * to 1 MB that are not plain, and composes those with large attachments, with the same code as
 * the main thread (the edge port, src/mime/edge_port.ts). In: `{ id, op: "parse" | "compose",
 * arg }`;
 * out: `{ id, ok: true, value, sha }` (`sha`: the SHA-256 of the message's bytes, which the
 * delivery path would otherwise compute on the main thread) or `{ id, ok: false, error }`.
 */
import { createHash } from "node:crypto";
import type { MimePort } from "../../src/ports.ts";
import { edgeMimePort } from "../../src/mime/edge_port.ts";
import { LARGE_MESSAGE_BYTES, type MimeLimits } from "./mime_limits.ts";
import { workerScope } from "./worker_scope.ts";

// The main thread sends what is too large to read there (hosts/process/mime_thread.ts), and its
// configured limits with each call (one port per distinct limits; in practice one).
const ports = new Map<string, MimePort>();
const portFor = (limits: MimeLimits | undefined) => {
  const key = JSON.stringify(limits ?? null);
  let port = ports.get(key);
  if (!port) ports.set(key, port = edgeMimePort({ limits }));
  return port;
};
const scope = workerScope<{ id: number; op: string; arg: never; limits?: MimeLimits }>();

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/**
 * This thread's heap after a large message: its buffers and strings are garbage once the answer
 * is posted, but nothing collects an idle worker's heap (the memory reducer is off, and
 * hosts/process/memory_trim.ts sees the main thread only). One compacting collection when the thread has
 * been idle for a second gives them back, where the runtime exposes `gc` (--expose-gc).
 */
let trim: ReturnType<typeof setTimeout> | undefined;
function trimLater(bytes: number): void {
  const gc = (globalThis as { gc?: (options?: unknown) => void }).gc;
  if (!gc || bytes <= LARGE_MESSAGE_BYTES) return;
  clearTimeout(trim);
  trim = setTimeout(() => gc({ type: "major", execution: "sync", flavor: "last-resort" }), 1000);
}

scope.onmessage = async ({ data: { id, op, arg, limits } }) => {
  const mime = portFor(limits);
  try {
    if (op === "compose") {
      // Transferred below: a view into a larger buffer would move (and copy) all of it.
      const built = await mime.compose(arg);
      const raw = built.byteLength === built.buffer.byteLength ? built : built.slice();
      const sha = sha256(raw);
      trimLater(raw.byteLength);
      scope.postMessage({ id, ok: true, value: raw, sha }, [raw.buffer as ArrayBuffer]);
    } else {
      const raw = arg as Uint8Array;
      scope.postMessage({ id, ok: true, value: await mime.parse(raw), sha: sha256(raw) });
    }
  } catch (error) {
    scope.postMessage({ id, ok: false, error: String((error as Error)?.message ?? error) });
  }
};

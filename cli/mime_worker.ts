/**
 * Worker thread for the MIME port (cli/mime_thread.ts): parses and composes messages with the
 * same code as the main thread (cli/mime_node.ts). In: `{ id, op: "parse" | "compose", arg }`;
 * out: `{ id, ok: true, value }` or `{ id, ok: false, error }`.
 */
import { createNodeMime } from "./mime_node.ts";
import { workerScope } from "./worker_scope.ts";

const mime = createNodeMime();
const scope = workerScope<{ id: number; op: string; arg: never }>();

scope.onmessage = async ({ data: { id, op, arg } }) => {
  try {
    if (op === "compose") {
      // A copy of its own: the composed bytes may sit in a Buffer pool shared with others.
      const raw = (await mime.compose(arg)).slice();
      scope.postMessage({ id, ok: true, value: raw }, [raw.buffer as ArrayBuffer]);
    } else {
      scope.postMessage({ id, ok: true, value: await mime.parse(arg) });
    }
  } catch (error) {
    scope.postMessage({ id, ok: false, error: String((error as Error)?.message ?? error) });
  }
};

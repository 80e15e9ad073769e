/**
 * Worker thread for the MIME port (cli/mime_thread.ts): parses and composes messages with the
 * same code as the main thread (cli/mime_node.ts). In: `{ id, op: "parse" | "compose", arg }`;
 * out: `{ id, ok: true, value }` or `{ id, ok: false, error }`.
 */
import { createNodeMime } from "./mime_node.ts";

const mime = createNodeMime();
// The worker's global scope (the type-check sees a window's).
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<{ id: number; op: string; arg: never }>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

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

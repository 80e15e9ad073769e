/**
 * The process host's MIME settings, shared by the MIME port `postern serve` runs
 * (mime_thread.ts, the edge port src/mime/edge_port.ts on this thread and on a worker), the
 * mailparser port the differential tests compare it with (mime_node.ts), and the mailauth
 * thread's size rule. A file of its own so that importing them loads neither MIME library.
 */
import type { Config } from "../../src/config.ts";
import { DEFAULT_LIMITS, type MimeLimits } from "../../src/mime/mime_tree.ts";

export type { MimeLimits };

/** mailsplit's own defaults (1,000 parts, 1 MiB), what Postern used before they were settings. */
export const DEFAULT_MIME_LIMITS: MimeLimits = DEFAULT_LIMITS;

/** The configured limits (`mimeMaxParts`, `mimeMaxHeaderBytes`); beyond them: degraded. */
export const mimeLimits = (
  config: Pick<Config, "mimeMaxParts" | "mimeMaxHeaderBytes">,
): MimeLimits => ({ maxParts: config.mimeMaxParts, maxHeaderBytes: config.mimeMaxHeaderBytes });

/**
 * A large message: its attachments are counted, not decoded, when parsed (mime_large.ts for
 * mailparser; the edge port counts base64 from its length), the MIME worker's heap is compacted
 * after one, and mailauth reads one on the main thread rather than copy it to its worker.
 */
export const LARGE_MESSAGE_BYTES = 1024 * 1024;

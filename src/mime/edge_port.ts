/**
 * The MIME port for edge runtimes (Cloudflare Workers, Deno Deploy): Web APIs only, no Buffer,
 * no node:*, no npm MIME library. Parsing tries parse_simple.ts first (plain and text+HTML
 * messages, microseconds) and reads everything else with parse_full.ts; composing is
 * compose_full.ts; attachments are numbered as the process host's port numbers them
 * (hosts/process/mime_node.ts, mailparser). test/mime_edge_port_test.ts holds the two ports side
 * by side over a corpus and lists where they differ on purpose.
 *
 * Limits are the process host's (config `mimeMaxParts`, `mimeMaxHeaderBytes`); mail beyond them
 * comes back `degraded`, and malformed mail never throws (src/ports.ts).
 */
import type { AttachmentContent, ComposeInput, ParsedMail } from "../../schemas/mail.ts";
import type { MimePort } from "../ports.ts";
import { composeFull } from "./compose_full.ts";
import { DEFAULT_LIMITS, type MimeLimits } from "./mime_tree.ts";
import { attachmentContent, parseFullMail } from "./parse_full.ts";
import { parseSimpleMail } from "./parse_simple.ts";

export type { MimeLimits };

export interface EdgeMimeOptions {
  limits?: MimeLimits;
  /** Try parse_simple.ts first (default); off in tests comparing the full parser alone. */
  simpleFirst?: boolean;
}

export function edgeMimePort(options: EdgeMimeOptions = {}): MimePort {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const simpleFirst = options.simpleFirst ?? true;
  return {
    parse(raw: Uint8Array): Promise<ParsedMail> {
      const simple = simpleFirst ? parseSimpleMail(raw) : undefined;
      return Promise.resolve(simple ?? parseFullMail(raw, limits));
    },
    compose(input: ComposeInput): Promise<Uint8Array> {
      return Promise.resolve(composeFull(input));
    },
    attachment(raw: Uint8Array, index: number): Promise<AttachmentContent | undefined> {
      return Promise.resolve(attachmentContent(raw, index, limits));
    },
  };
}

/**
 * The MIME port of the Cloudflare Worker, from what `src/mime/` offers on the edge today: the
 * simple parser (text and text+HTML messages, exactly as the full parser reads them), and for
 * anything else the degraded form (headers only; the raw bytes are kept and served whole). The
 * send path composes text and HTML itself (src/mime/compose.ts); a message with attachments
 * needs a composer that the edge does not have yet, so it is refused with 501 and says so.
 *
 * The edge MIME port with attachments and a full parser replaces this file: main.ts imports the
 * port from here only, so the swap is one import.
 */
import type { MimePort } from "../../src/ports.ts";
import { AppError } from "../../src/errors.ts";
import { parseSimpleMail } from "../../src/mime/parse_simple.ts";
import { degradedMail } from "../../src/mime/degraded.ts";

const FULL_PARSER_MISSING = "beyond the edge's simple MIME parser (attachments, encodings)";

export function createWorkerMime(): MimePort {
  return {
    parse: (raw) => Promise.resolve(parseSimpleMail(raw) ?? degradedMail(raw, FULL_PARSER_MISSING)),
    compose: () =>
      Promise.reject(
        new AppError(
          501,
          "not_implemented",
          "this host (a Cloudflare Worker) cannot compose messages with attachments yet; send " +
            "text and HTML, or send through a `postern serve` gateway",
        ),
      ),
    // The degraded form lists no attachments, so no index names one.
    attachment: () => Promise.resolve(undefined),
  };
}

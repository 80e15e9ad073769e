/**
 * Large messages (issue 15, item 7) are parsed with their attachments counted, not kept: by the
 * edge port `postern serve` runs (src/mime/parse_full.ts counts base64 from its length) and by
 * mailparser's port (hosts/process/mime_large.ts, the reference the edge port is held to). The
 * JSON form must be what the full parser gives for the same message, but for the size of the
 * attachment, and the threaded port must still hand the delivery path the right digest.
 */
import { sha256 } from "hash-wasm";
import { createNodeMime } from "../hosts/process/mime_node.ts";
import { LARGE_MESSAGE_BYTES } from "../hosts/process/mime_limits.ts";
import { createThreadedMime } from "../hosts/process/mime_thread.ts";
import { edgeMimePort } from "../src/mime/edge_port.ts";
import { knownSha256 } from "../src/crypto.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { multipartWithAttachment } from "./fixtures/large_mail.ts";

const json = (value: unknown) => JSON.parse(JSON.stringify(value));

Deno.test("issue15#7: a large message's JSON form matches the full parser's, attachment counted not kept", async () => {
  const small = multipartWithAttachment(1000);
  const large = multipartWithAttachment(LARGE_MESSAGE_BYTES); // over the threshold once encoded
  assert(large.raw.byteLength > LARGE_MESSAGE_BYTES);
  const reference = await createNodeMime().parse(large.raw);
  for (const mime of [edgeMimePort(), createNodeMime()]) {
    const full = await mime.parse(small.raw);
    const lean = await mime.parse(large.raw);
    assertEquals(lean.attachments, [{ ...full.attachments[0], size: LARGE_MESSAGE_BYTES }]);
    assertEquals({ ...lean, attachments: [] }, { ...full, attachments: [] });
    assertEquals(lean.text, "The report is attached.");
    assertEquals(lean.subject, "Big report");
    // As stored (JSON): mailparser's port writes `contentId: undefined`, the edge port omits it.
    assertEquals(json(lean), json(reference), "the edge port and mailparser agree");
    // The attachment itself is still there, read on demand from the stored bytes.
    const attachment = await mime.attachment(large.raw, 0);
    assertEquals(attachment?.content, large.content);
  }
});

Deno.test("issue15#7: the serve port parses a large message, attachment counted, digest included", async () => {
  const threaded = createThreadedMime(undefined, { handoffBytes: 0 });
  try {
    const { raw } = multipartWithAttachment(LARGE_MESSAGE_BYTES);
    const parsed = await threaded.parse(raw);
    assertEquals(parsed.attachments[0].size, LARGE_MESSAGE_BYTES);
    assertEquals(knownSha256(raw), await sha256(raw));
  } finally {
    threaded.close();
  }
});

/**
 * Large messages are parsed by hosts/process/mime_large.ts (issue 15, item 7): attachments counted, not
 * kept. The JSON form must be what the full parser gives for the same message, but for the size
 * of the attachment, and the threaded port must still hand the delivery path the right digest.
 */
import { sha256 } from "hash-wasm";
import { createNodeMime, LARGE_MESSAGE_BYTES } from "../hosts/process/mime_node.ts";
import { createThreadedMime } from "../hosts/process/mime_thread.ts";
import { knownSha256 } from "../src/crypto.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { multipartWithAttachment } from "./fixtures/large_mail.ts";

Deno.test("issue15#7: a large message's JSON form matches the full parser's, attachment counted not kept", async () => {
  const mime = createNodeMime();
  const small = multipartWithAttachment(1000);
  const large = multipartWithAttachment(LARGE_MESSAGE_BYTES); // over the threshold once encoded
  assert(large.raw.byteLength > LARGE_MESSAGE_BYTES);
  const full = await mime.parse(small.raw);
  const lean = await mime.parse(large.raw);
  assertEquals(lean.attachments, [{ ...full.attachments[0], size: LARGE_MESSAGE_BYTES }]);
  assertEquals({ ...lean, attachments: [] }, { ...full, attachments: [] });
  assertEquals(lean.text, "The report is attached.");
  assertEquals(lean.subject, "Big report");
  // The attachment itself is still there, read on demand from the stored bytes.
  const attachment = await mime.attachment(large.raw, 0);
  assertEquals(attachment?.content, large.content);
});

Deno.test("issue15#7: the threaded port parses a large message on its own thread, digest included", async () => {
  const threaded = createThreadedMime();
  try {
    const { raw } = multipartWithAttachment(LARGE_MESSAGE_BYTES);
    const parsed = await threaded.parse(raw);
    assertEquals(parsed.attachments[0].size, LARGE_MESSAGE_BYTES);
    assertEquals(knownSha256(raw), await sha256(raw));
  } finally {
    threaded.close();
  }
});

/**
 * Large messages are parsed by cli/mime_large.ts (issue 15, item 7): attachments counted, not
 * kept. The JSON form must be what the full parser gives for the same message, but for the size
 * of the attachment, and the threaded port must still hand the delivery path the right digest.
 */
import { sha256 } from "hash-wasm";
import { createNodeMime, LARGE_MESSAGE_BYTES } from "../cli/mime_node.ts";
import { createThreadedMime } from "../cli/mime_thread.ts";
import { knownSha256 } from "../src/crypto.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";

/** A multipart message with a text part, an HTML part and a base64 attachment of `bytes`. */
export function multipartWithAttachment(bytes: number): { raw: Uint8Array; content: Uint8Array } {
  const content = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) content[i] = (i * 7919) & 0xff;
  let b64 = "";
  for (let i = 0; i < bytes; i += 57) {
    b64 += btoa(String.fromCharCode(...content.subarray(i, i + 57))) + "\r\n";
  }
  const text = [
    "From: Zed <zed@remote.example>",
    "To: Alice <alice@postern.test>",
    "Subject: Big report",
    "Date: Mon, 07 Dec 2026 01:00:00 +0000",
    "Message-ID: <big-1@remote.example>",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="outer"',
    "",
    "--outer",
    'Content-Type: multipart/alternative; boundary="inner"',
    "",
    "--inner",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "The report is attached.",
    "--inner",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<p>The report is attached.</p>",
    "--inner--",
    "--outer",
    'Content-Type: application/pdf; name="report.pdf"',
    "Content-Transfer-Encoding: base64",
    'Content-Disposition: attachment; filename="report.pdf"',
    "",
    b64 + "--outer--",
    "",
  ].join("\r\n");
  return { raw: new TextEncoder().encode(text), content };
}

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

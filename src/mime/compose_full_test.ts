import assert from "node:assert/strict";
import type { ComposeInput } from "../../schemas/mail.ts";
import { composeFull } from "./compose_full.ts";
import { parseFullMail } from "./parse_full.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

const base = (over: Partial<ComposeInput>): ComposeInput => ({
  from: { name: "Alice", address: "alice@postern.test" },
  to: [{ name: "", address: "bob@remote.example" }],
  cc: [],
  bcc: [],
  replyTo: [],
  subject: "s",
  text: "t",
  messageId: "<m@postern.test>",
  date: new Date(0),
  headers: [],
  attachments: [],
  ...over,
});

Deno.test("compose: the tree nodemailer builds (mixed > alternative > related)", () => {
  const raw = dec(composeFull(base({
    html: '<img src="cid:i@x">',
    attachments: [
      { filename: "i.png", contentType: "image/png", content: enc("png"), contentId: "i@x" },
      { filename: "a.pdf", contentType: "application/pdf", content: enc("pdf") },
    ],
  })));
  const types = [...raw.matchAll(/^Content-Type: ([^;\r\n]+)/gm)].map((m) => m[1]);
  assert.deepEqual(types, [
    "multipart/mixed",
    "multipart/alternative",
    "text/plain",
    "multipart/related",
    "text/html",
    "image/png",
    "application/pdf",
  ]);
  assert.match(
    raw,
    /Content-ID: <i@x>\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: inline/,
  );
});

Deno.test("compose: hostile field values cannot add header lines or parts", () => {
  const raw = composeFull(base({
    attachments: [{
      filename: "a.txt\r\nBcc: victim@x.test",
      contentType: "text/plain\r\nX-Injected: 1",
      content: enc("x"),
      contentId: "c@x>\r\nX-Injected: 2",
    }],
    headers: [{ name: "X-Note", value: "v\r\nX-Injected: 3" }],
  }));
  const text = dec(raw);
  assert.doesNotMatch(text, /^(X-Injected|Bcc):/im);
  const parsed = parseFullMail(raw);
  assert.equal(parsed.attachments[0].filename, "a.txt\r\nBcc: victim@x.test");
  assert.equal(parsed.attachments[0].contentType, "application/octet-stream");
});

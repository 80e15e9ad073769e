import assert from "node:assert/strict";
import type { ComposeInput } from "../../schemas/mail.ts";
import { attachmentBytes, attachmentContent } from "../services/send.ts";
import {
  base64Content,
  base64ContentBytes,
  contentSize,
  writeBase64Content,
} from "./base64_text.ts";
import { composeFull } from "./compose_full.ts";
import { base64LinesLength, encodeBase64LineBytes } from "./transfer.ts";

/** A small seeded generator (mulberry32): the same inputs on every run. */
function seeded(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const plain = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** Base64 texts of the shapes clients send: wrapped, unpadded, spaced, odd bits, and junk. */
function inputs(): string[] {
  const random = seeded(17);
  const out = [
    "",
    "QQ==",
    "QR==", // unused bits set: the encoder writes "QQ=="
    "QR",
    "QUI",
    "QUJ",
    "QUJD",
    "QUJD==",
    "QUJD====",
    "QQ=",
    "QQ===",
    "Q",
    "Q===",
    "====",
    "QQ==QQ==",
    "QQ=A",
    " Q Q = = ",
    "QUJD\nRUZH\r\nSUpL\tTU5P UFFS\fU1RV",
    "QUJD\u00a0RUZH", // a Unicode space: the old decoder's business
    "QUJD\u2028RUZH",
    "-_-_",
    "+/+/",
    "QUJD*RUZH",
    "QUJDRUZ\u00e9",
  ];
  for (let size = 0; size < 260; size += 1 + Math.floor(random() * 7)) {
    const bytes = Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
    const text = plain(bytes);
    out.push(
      text,
      text.replace(/=+$/, ""),
      text.replace(/.{76}/g, "$&\n"),
      text.replace(/.{76}/g, "$&\r\n") + "\r\n",
      text.replace(/.{60}/g, "$& "),
      text.replaceAll("+", "-").replaceAll("/", "_"),
      text.slice(0, -1),
    );
  }
  // Random strings over letters, padding, whitespace and junk.
  const pool = "ABQRabyz09+/=-_ \n\r\t\u00a0*";
  for (let i = 0; i < 3000; i++) {
    const length = Math.floor(random() * 24);
    out.push(Array.from({ length }, () => pool[Math.floor(random() * pool.length)]).join(""));
  }
  return out;
}

/** What the message carried for `text` before: its decoded bytes encoded again, or the error. */
function before(text: string): Uint8Array | string {
  try {
    return encodeBase64LineBytes(attachmentBytes(text));
  } catch (error) {
    return (error as Error).message;
  }
}

function after(text: string): Uint8Array | string {
  try {
    const content = attachmentContent(text);
    if (content instanceof Uint8Array) return encodeBase64LineBytes(content);
    // Written into a larger buffer, from an offset, as the composer does.
    const out = new Uint8Array(base64LinesLength(content.size) + 10).fill(0x21);
    const end = writeBase64Content(content, out, 5);
    assert.equal(end, 5 + base64LinesLength(content.size));
    assert.deepEqual([...out.subarray(0, 5), ...out.subarray(end)], new Array(10).fill(0x21));
    assert.deepEqual(base64ContentBytes(content), attachmentBytes(text), JSON.stringify(text));
    assert.equal(contentSize(content), attachmentBytes(text).byteLength);
    return out.slice(5, end);
  } catch (error) {
    return (error as Error).message;
  }
}

function sameEverywhere(check: () => void) {
  check();
  // Hosts without ES2026's Uint8Array.fromBase64 (older workerd) take the fallback decoder.
  const native = Object.getOwnPropertyDescriptor(Uint8Array, "fromBase64");
  if (!native) return;
  delete (Uint8Array as { fromBase64?: unknown }).fromBase64;
  try {
    check();
  } finally {
    Object.defineProperty(Uint8Array, "fromBase64", native);
  }
}

Deno.test("issue17: an attachment's base64 text re-wrapped is byte-identical to decoding and encoding it", () => {
  const all = inputs();
  let copied = 0;
  sameEverywhere(() => {
    for (const text of all) {
      assert.deepEqual(after(text), before(text), JSON.stringify(text));
      if (base64Content(text)) copied++;
    }
  });
  // The plain shapes really take the copy (not all fall back to the bytes path).
  assert.ok(copied > all.length / 4, `${copied} of ${all.length}`);
  assert.equal(base64Content("QUJD\nRUZH")?.base64, "QUJDRUZH");
  assert.equal(base64Content("QUJD\u00a0RUZH"), undefined);
  assert.equal(base64Content("-_-_"), undefined);
});

Deno.test("issue17: bad base64 is still a 422 with the same error", () => {
  for (const text of ["Q", "QUJDR", "QQ==QQ==", "QUJD*", "é"]) {
    assert.throws(() => attachmentContent(text), (e: Error & { status?: number }) => {
      assert.equal(e.message, "an attachment is not valid base64");
      assert.equal(e.status, 422);
      return true;
    });
  }
});

Deno.test("issue17: a composed message is the same whether the attachment came as text or bytes", () => {
  const random = seeded(25);
  const big = Uint8Array.from({ length: 100_003 }, () => Math.floor(random() * 256));
  const texts = [plain(big), plain(big).replace(/.{76}/g, "$&\r\n"), plain(big.subarray(0, 5))];
  const getRandomValues = crypto.getRandomValues;
  for (const text of texts) {
    const compose = (content: Uint8Array | ReturnType<typeof attachmentContent>) => {
      // The same boundaries for both: a fixed random source while composing.
      crypto.getRandomValues = (<T extends ArrayBufferView | null>(a: T) =>
        a) as typeof getRandomValues;
      try {
        const input: ComposeInput = {
          from: { name: "", address: "a@example.com" },
          to: [{ name: "", address: "b@example.com" }],
          cc: [],
          bcc: [],
          replyTo: [],
          subject: "file",
          text: "see the file",
          html: '<p><img src="cid:logo"></p>',
          messageId: "<m@example.com>",
          date: new Date(0),
          headers: [],
          attachments: [
            { filename: "a.bin", contentType: "application/octet-stream", content },
            { filename: "logo.png", contentType: "image/png", contentId: "logo", content },
            { filename: "fwd.eml", contentType: "message/rfc822", content },
          ],
        };
        return composeFull(input);
      } finally {
        crypto.getRandomValues = getRandomValues;
      }
    };
    const content = attachmentContent(text);
    assert.ok(!(content instanceof Uint8Array));
    assert.deepEqual(compose(content), compose(attachmentBytes(text)));
  }
});

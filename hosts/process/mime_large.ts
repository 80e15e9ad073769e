/**
 * Parsing a large message (RFC 5322, MIME RFC 2045-2049) for its JSON form without holding its
 * attachments: mailparser's streaming MailParser reads the message in 64 KiB slices (waiting
 * when it asks to), each attachment's decoded content is counted and dropped, and inline images
 * stay `cid:` links in the HTML (mailparser's simpleParser would keep every attachment decoded in
 * memory and copy inline images into the HTML as base64). Measured on 25 MB messages with a
 * base64 attachment (bench/run.ts section l): simpleParser held about five times the message.
 * Attachment content is read later, on demand, from the stored bytes (MimePort.attachment).
 * Part of mailparser's port (mime_node.ts), which is now the tests' reference; `postern serve`
 * reads large mail with the edge port (mime_thread.ts), which counts base64 without decoding.
 */
import { Buffer } from "node:buffer";
import type { HeaderValue, MailParserOptions } from "mailparser";

/** What simpleParser returns, without attachment content. */
export interface LeanMail {
  headers: Map<string, HeaderValue>;
  text?: string;
  html?: string | false;
  attachments: {
    filename?: string;
    contentType: string;
    size: number;
    contentId?: string;
    contentDisposition?: string;
  }[];
  /** Header values under simpleParser's names (subject, from, to, messageId…). */
  fields: Record<string, unknown>;
}

const SLICE = 64 * 1024;

/** Parses `raw` with attachments counted, not kept. */
export async function parseLean(raw: Uint8Array, options: MailParserOptions): Promise<LeanMail> {
  const { MailParser } = await import("mailparser");
  const parser = new MailParser(options);
  const mail: LeanMail = { headers: new Map(), attachments: [], fields: {} };
  const done = new Promise<void>((resolve, reject) => {
    parser.on("error", reject);
    parser.on("headers", (headers) => (mail.headers = headers));
    parser.on("data", (data) => {
      if (data.type === "text") {
        mail.text = data.text;
        mail.html = data.html;
        return;
      }
      const entry = {
        filename: data.filename,
        contentType: data.contentType,
        size: 0,
        contentId: data.contentId,
        contentDisposition: data.contentDisposition,
      };
      mail.attachments.push(entry);
      data.content.on("data", (chunk: Uint8Array) => (entry.size += chunk.byteLength));
      data.content.on("end", () => data.release?.());
    });
    parser.on("end", () => {
      for (
        const key of ["subject", "references", "date", "from", "to", "cc", "message-id"].concat(
          ["in-reply-to", "reply-to"],
        )
      ) {
        if (mail.headers.has(key)) {
          mail.fields[key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = mail.headers
            .get(key);
        }
      }
      resolve();
    });
  });
  // Slices are views of `raw`, not copies; the parser's own buffers stay one slice deep.
  const buffer = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let at = 0; at < buffer.byteLength; at += SLICE) {
    if (!parser.write(buffer.subarray(at, at + SLICE))) {
      await new Promise<void>((resolve) => parser.once("drain", () => resolve()));
    }
  }
  parser.end();
  await done;
  return mail;
}

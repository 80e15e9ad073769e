/**
 * The MIME port on mailparser (RFC 5322/2045-2049 parsing) and nodemailer's MailComposer
 * (building), which the process host ran until the edge port (src/mime/edge_port.ts) matched it:
 * now the reference the differential tests hold that port to (test/mime_edge_port_test.ts,
 * test/parse_simple_test.ts, test/hostile/mime_edge_test.ts). `postern serve` does not load it
 * (mime_thread.ts); mailparser also never answered for some messages (test/hostile/mime_host_test.ts).
 */
import { Buffer } from "node:buffer";
import type {
  AddressObject,
  MailParserOptions,
  ParsedMail as LibParsedMail,
  SimpleParserOptions,
} from "mailparser";
import { type LeanMail, parseLean } from "./mime_large.ts";
import { DEFAULT_MIME_LIMITS, LARGE_MESSAGE_BYTES, type MimeLimits } from "./mime_limits.ts";

// The MIME libraries load on first use: an idle server does not carry them.
async function simpleParser(input: Buffer, options: SimpleParserOptions): Promise<LibParsedMail> {
  return await (await import("mailparser")).simpleParser(input, options);
}
const loadComposer = async () => (await import("nodemailer/lib/mail-composer/index.js")).default;
import type {
  AttachmentContent,
  ComposeInput,
  NamedAddress,
  ParsedMail,
} from "../../schemas/mail.ts";
import type { MimePort } from "../../src/ports.ts";
import { parseHeaderBlock } from "../../src/mime/header_block.ts";
import { parseSimpleMail } from "../../src/mime/parse_simple.ts";
import { degradedMail } from "../../src/mime/degraded.ts";
import { base64ContentBytes } from "../../src/mime/base64_text.ts";

function flatten(value: AddressObject | AddressObject[] | undefined): NamedAddress[] {
  if (!value) return [];
  const list = Array.isArray(value) ? value : [value];
  const out: NamedAddress[] = [];
  const walk = (entries: AddressObject["value"]) => {
    for (const entry of entries) {
      if (entry.group) walk(entry.group);
      else if (entry.address) out.push({ name: entry.name ?? "", address: entry.address });
    }
  };
  for (const item of list) walk(item.value);
  return out;
}

function headerValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(headerValue).join(", ");
  if (value && typeof value === "object" && "text" in value) return String(value.text);
  if (value && typeof value === "object" && "value" in value) return String(value.value);
  return String(value ?? "");
}

function splitIds(value: string | string[] | undefined): string[] {
  if (!value) return [];
  const text = Array.isArray(value) ? value.join(" ") : value;
  return text.match(/<[^<>\s]+>/g) ?? [];
}

/** Why mailparser gave up, for `ParsedMail.degraded` (mailsplit marks limit errors EMAXLEN). */
function degradedReason(error: unknown, limits: MimeLimits): string {
  const message = String((error as Error)?.message ?? error);
  if ((error as { code?: string })?.code === "EMAXLEN") {
    if (/child nodes/i.test(message)) return `more than ${limits.maxParts} MIME parts`;
    if (/header size/i.test(message)) {
      return `a MIME header block over ${limits.maxHeaderBytes} bytes`;
    }
  }
  return `the MIME parser failed: ${message.slice(0, 200)}`;
}

export interface NodeMimeOptions {
  limits?: MimeLimits;
  /**
   * Read plain and text+HTML messages with src/mime/parse_simple.ts first (default). Off where
   * the caller has tried it already (the MIME thread), and in tests comparing the two parsers.
   */
  simpleFirst?: boolean;
}

/** HTML longer than this is not turned into text for a message without a text part. */
const MAX_HTML = 5 * 1024 * 1024;

/** mailparser's options, with the limits passed through to mailsplit (not in its option types). */
const parseOptions = (limits: MimeLimits) => ({
  skipImageLinks: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  maxChildNodes: limits.maxParts,
  maxHeadSize: limits.maxHeaderBytes,
});

async function parseLarge(raw: Uint8Array, limits: MimeLimits): Promise<ParsedMail> {
  // MailParser, unlike simpleParser, leaves inline images as cid: links in the HTML.
  const options = { ...parseOptions(limits), maxHtmlLengthToParse: MAX_HTML };
  return toParsed(raw, await parseLean(raw, options as MailParserOptions));
}

/** The JSON form from what mailparser read (simpleParser's or mime_large.ts's result). */
function toParsed(raw: Uint8Array, mail: LeanMail): ParsedMail {
  const f = mail.fields as {
    date?: Date;
    from?: AddressObject;
    to?: AddressObject | AddressObject[];
    cc?: AddressObject | AddressObject[];
    replyTo?: AddressObject;
    messageId?: string;
    inReplyTo?: string;
    references?: string | string[];
    subject?: string;
  };
  const date = f.date && !Number.isNaN(f.date.getTime()) ? f.date.getTime() : undefined;
  const parsed: ParsedMail = {
    messageId: f.messageId ?? undefined,
    inReplyTo: splitIds(f.inReplyTo)[0],
    references: splitIds(f.references),
    subject: f.subject ?? "",
    from: flatten(f.from)[0],
    to: flatten(f.to),
    cc: flatten(f.cc),
    replyTo: flatten(f.replyTo),
    date,
    headers: parseHeaderBlock(raw),
    text: mail.text ?? undefined,
    html: typeof mail.html === "string" ? mail.html : undefined,
    attachments: mail.attachments.map((a, index) => ({
      index,
      filename: a.filename ?? `attachment-${index + 1}`,
      contentType: a.contentType ?? "application/octet-stream",
      size: a.size,
      contentId: a.contentId ?? undefined,
      disposition: a.contentDisposition === "inline" ? "inline" : "attachment",
    })),
  };
  // headerValue keeps mailparser's structured headers usable if raw parsing found nothing.
  if (parsed.headers.length === 0) {
    for (const [name, value] of mail.headers) {
      parsed.headers.push({ name, value: headerValue(value) });
    }
  }
  return parsed;
}

export function createNodeMime(options: NodeMimeOptions = {}): MimePort {
  const simpleFirst = options.simpleFirst ?? true;
  const limits = options.limits ?? DEFAULT_MIME_LIMITS;
  return {
    async parse(raw) {
      // Plain and text+HTML messages need none of mailparser's machinery (same result, tested).
      const simple = simpleFirst ? parseSimpleMail(raw) : undefined;
      if (simple) return simple;
      try {
        if (raw.byteLength > LARGE_MESSAGE_BYTES) return await parseLarge(raw, limits);
        const mail = await simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
          ...parseOptions(limits),
          maxHtmlLengthToParse: MAX_HTML,
        } as SimpleParserOptions);
        return toParsed(raw, {
          ...mail,
          fields: mail as unknown as Record<string, unknown>,
          attachments: mail.attachments.map((a) => ({ ...a, size: a.size ?? a.content.length })),
        });
      } catch (error) {
        // The port's promise: malformed or oversized mail never throws. The bytes are stored as
        // received; a throw here became a temporary failure (451, NO [UNAVAILABLE]) that the
        // sender retried for days.
        return degradedMail(raw, degradedReason(error, limits));
      }
    },

    async compose(input: ComposeInput) {
      const fmt = (a: NamedAddress) => ({ name: a.name, address: a.address });
      const MailComposer = await loadComposer();
      const composer = new MailComposer({
        from: fmt(input.from),
        to: input.to.map(fmt),
        cc: input.cc.map(fmt),
        bcc: input.bcc.map(fmt),
        replyTo: input.replyTo.length ? input.replyTo.map(fmt) : undefined,
        subject: input.subject,
        text: input.text,
        html: input.html,
        messageId: input.messageId,
        date: input.date,
        inReplyTo: input.inReplyTo,
        references: input.references,
        headers: input.headers.map((h) => ({ key: h.name, value: h.value })),
        attachments: input.attachments.map((a) => {
          // The send API's plain base64 (src/mime/base64_text.ts) is decoded for nodemailer.
          const bytes = a.content instanceof Uint8Array ? a.content : base64ContentBytes(a.content);
          return {
            filename: a.filename,
            contentType: a.contentType,
            content: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            // nodemailer puts parts with a cid into multipart/related, disposition inline.
            ...(a.contentId ? { cid: a.contentId } : {}),
          };
        }),
      });
      const built = await composer.compile().build();
      return new Uint8Array(built.buffer, built.byteOffset, built.byteLength);
    },

    async attachment(raw, index): Promise<AttachmentContent | undefined> {
      const mail = await simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
        skipHtmlToText: true,
        skipImageLinks: true,
        skipTextToHtml: true,
      });
      const a = mail.attachments[index];
      if (!a) return undefined;
      return {
        filename: a.filename ?? `attachment-${index + 1}`,
        contentType: a.contentType ?? "application/octet-stream",
        content: new Uint8Array(a.content.buffer, a.content.byteOffset, a.content.byteLength),
      };
    },
  };
}

/**
 * The SHARP/1.3 wire codec (the TCP protocol of twoblade's reference server, `SHARP/main.js`):
 * one JSON object per `\n`-terminated line (a trailing
 * `\r` tolerated, blank lines ignored), a 1 MiB line cap (ERROR 413) and a 10 MiB cap on what one
 * connection may buffer; the five client message types and their validation; the reply objects;
 * and `user#domain` addresses (1-20 character usernames). Pure: no I/O, never throws on input.
 */
import { SHARP_USERNAME } from "../../schemas/sharp_address.ts";

export const PROTOCOL = "SHARP/1.3";
/** Reference server: a line longer than 1 MiB is answered with ERROR 413. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Reference server: a connection buffering more than 10 MiB is refused and dropped. */
export const MAX_BUFFER_BYTES = 10 * 1024 * 1024;
/** SHARP/1.3 ERROR codes: bad request, line too long, proof of work, domain, no such user. */
export type SharpCode = 400 | 413 | 429 | 451 | 550;

export interface EmailContent {
  subject: string;
  body: string;
  /** Missing means text/plain (reference server). */
  contentType: string;
  htmlBody: string | null;
  /** Opaque storage keys on the sender's server: no bytes travel, nobody else can resolve them. */
  attachments: string[];
}

export type SharpCommand =
  | { type: "HELLO"; serverId: string; protocol: string }
  | { type: "MAIL_TO"; address: string; hashcash?: string }
  | { type: "DATA" }
  | { type: "EMAIL_CONTENT"; content: EmailContent }
  | { type: "END_DATA" }
  /** Valid JSON with a type SHARP/1.3 does not know: the session answers "Expected …". */
  | { type: "OTHER"; name: string };

export type ParseResult = { ok: true; command: SharpCommand } | { ok: false; message: string };

export type SharpReply =
  | { type: "OK"; protocol?: string; message?: string }
  | { type: "ERROR"; message: string; code: SharpCode };

/** One reply as its wire line. Key order as the reference server writes them. */
export function formatReply(reply: SharpReply): string {
  return JSON.stringify(reply) + "\n";
}

export const ok = (extra: { protocol?: string; message?: string } = {}): SharpReply => ({
  type: "OK",
  ...extra,
});
export const error = (message: string, code: SharpCode = 400): SharpReply => ({
  type: "ERROR",
  message,
  code,
});

const str = (v: unknown): string => (typeof v === "string" ? v : v == null ? "" : String(v));

/**
 * Parses one line (without its `\n`). Field types are coerced as loosely as the reference server
 * does (it stores whatever arrives); a line that is not a JSON object is "Invalid message format".
 */
export function parseLine(line: string): ParseResult {
  let data: unknown;
  try {
    data = JSON.parse(line.endsWith("\r") ? line.slice(0, -1) : line);
  } catch {
    return { ok: false, message: "Invalid message format or processing error" };
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    return { ok: false, message: "Invalid message format or processing error" };
  }
  const m = data as Record<string, unknown>;
  switch (m.type) {
    case "HELLO":
      return {
        ok: true,
        command: { type: "HELLO", serverId: str(m.server_id), protocol: str(m.protocol) },
      };
    case "MAIL_TO":
      return {
        ok: true,
        command: {
          type: "MAIL_TO",
          address: str(m.address),
          ...(typeof m.hashcash === "string" && m.hashcash ? { hashcash: m.hashcash } : {}),
        },
      };
    case "DATA":
      return { ok: true, command: { type: "DATA" } };
    case "END_DATA":
      return { ok: true, command: { type: "END_DATA" } };
    case "EMAIL_CONTENT": {
      const attachments = Array.isArray(m.attachments)
        ? m.attachments.filter((a) => typeof a === "string" || typeof a === "number").map(String)
        : [];
      return {
        ok: true,
        command: {
          type: "EMAIL_CONTENT",
          content: {
            subject: str(m.subject),
            body: str(m.body),
            contentType: str(m.content_type) || "text/plain",
            htmlBody: typeof m.html_body === "string" && m.html_body ? m.html_body : null,
            attachments,
          },
        },
      };
    }
    default:
      return { ok: true, command: { type: "OTHER", name: str(m.type) } };
  }
}

/** The client's wire form of a command (what Postern's client sends). */
export function formatCommand(command: Exclude<SharpCommand, { type: "OTHER" }>): string {
  switch (command.type) {
    case "HELLO":
      return JSON.stringify({
        type: "HELLO",
        server_id: command.serverId,
        protocol: command.protocol,
      }) + "\n";
    case "MAIL_TO":
      return JSON.stringify({
        type: "MAIL_TO",
        address: command.address,
        hashcash: command.hashcash,
      }) + "\n";
    case "EMAIL_CONTENT":
      return JSON.stringify({
        type: "EMAIL_CONTENT",
        subject: command.content.subject,
        body: command.content.body,
        content_type: command.content.contentType,
        html_body: command.content.htmlBody,
        attachments: command.content.attachments,
      }) + "\n";
    default:
      return JSON.stringify({ type: command.type }) + "\n";
  }
}

/** Parses a server reply line; undefined when it is not a SHARP reply. */
export function parseReply(line: string): SharpReply | undefined {
  let data: unknown;
  try {
    data = JSON.parse(line.endsWith("\r") ? line.slice(0, -1) : line);
  } catch {
    return undefined;
  }
  if (!data || typeof data !== "object") return undefined;
  const m = data as Record<string, unknown>;
  if (m.type === "OK") {
    return {
      type: "OK",
      ...(typeof m.protocol === "string" ? { protocol: m.protocol } : {}),
      ...(typeof m.message === "string" ? { message: m.message } : {}),
    };
  }
  if (m.type === "ERROR") {
    const code = Number(m.code);
    return {
      type: "ERROR",
      message: str(m.message),
      code: ([400, 413, 429, 451, 550].includes(code) ? code : 400) as SharpCode,
    };
  }
  return undefined;
}

// ---- addresses ----------------------------------------------------------------------------

export interface SharpAddress {
  username: string;
  domain: string;
  /** `user#domain:port`: in the grammar, but the port breaks hashcash (":" splits the stamp). */
  port?: number;
}

/** `user#domain[:port]`, as the reference server parses it (last `#`, lower-cased). */
export function parseSharpAddress(
  input: string,
): { ok: true; value: SharpAddress } | { ok: false; message: string } {
  const m = /^(.+)#([^:#]+)(?::(\d+))?$/.exec(input);
  if (!m) return { ok: false, message: "Invalid SHARP address format" };
  return {
    ok: true,
    value: {
      username: m[1].toLowerCase(),
      domain: m[2].toLowerCase(),
      ...(m[3] ? { port: Number(m[3]) } : {}),
    },
  };
}

/** Reference server: usernames of 1-20 characters (schemas/sharp_address.ts). */
export function isValidUsername(username: string): boolean {
  return SHARP_USERNAME.test(username);
}

// ---- line splitting -----------------------------------------------------------------------

export type SplitResult =
  | { kind: "line"; line: string }
  | { kind: "too_long" }
  | { kind: "overflow" };

/**
 * Splits received bytes into lines. A line is reported too long as soon as more than
 * MAX_LINE_BYTES arrive without a `\n` (no need to wait for its end: the server answers 413 and
 * closes). Blank lines are skipped.
 */
export class LineSplitter {
  private buf = new Uint8Array(0);
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly maxLine = MAX_LINE_BYTES,
    private readonly maxBuffer = MAX_BUFFER_BYTES,
  ) {}

  /** Adds received bytes; "overflow" when the connection's buffer cap would be passed. */
  push(bytes: Uint8Array): "ok" | "overflow" {
    if (this.buf.byteLength + bytes.byteLength > this.maxBuffer) return "overflow";
    const next = new Uint8Array(this.buf.byteLength + bytes.byteLength);
    next.set(this.buf);
    next.set(bytes, this.buf.byteLength);
    this.buf = next;
    return "ok";
  }

  /** The next complete non-blank line, a too-long verdict, or undefined (need more bytes). */
  next(): SplitResult | undefined {
    for (;;) {
      const lf = this.buf.indexOf(10);
      if (lf < 0) {
        return this.buf.byteLength > this.maxLine ? { kind: "too_long" } : undefined;
      }
      if (lf > this.maxLine + 1) return { kind: "too_long" };
      let text = this.decoder.decode(this.buf.subarray(0, lf));
      this.buf = this.buf.subarray(lf + 1);
      if (text.endsWith("\r")) text = text.slice(0, -1);
      if (text.trim().length > 0) return { kind: "line", line: text };
    }
  }

  /** Received bytes other than whitespace not yet returned as a line. */
  get pending(): boolean {
    return this.buf.some((b) => b !== 10 && b !== 13 && b !== 32 && b !== 9);
  }
}

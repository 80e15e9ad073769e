/**
 * SMTP replies: formatting (RFC 5321 section 4.2: `code SP text` on the last line, `code-text` on
 * the others, CRLF line ends), enhanced status codes (RFC 3463, registry RFC 5248, announced with
 * ENHANCEDSTATUSCODES, RFC 2034), the one error type the session throws, and the closed catalogue
 * of every reply the server sends. Pure: no I/O.
 */

/** A reply before formatting. `enhanced` is omitted where RFC 2034 section 3 forbids it. */
export interface SmtpReply {
  code: number;
  enhanced?: string;
  text: string | readonly string[];
}

/** A reply that a backend hands back: always with an enhanced code. */
export interface ReplySpec {
  code: number;
  enhanced: string;
  text: string;
}

/** The one SMTP error type: it becomes a reply at exactly one boundary (the session). */
export class SmtpError extends Error {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
  constructor(reply: ReplySpec) {
    super(`${reply.code} ${reply.enhanced} ${reply.text}`);
    this.name = "SmtpError";
    this.code = reply.code;
    this.enhanced = reply.enhanced;
    this.text = reply.text;
  }
  /** 5xx: the client must not retry as is (RFC 5321 section 4.2.1). */
  get permanent(): boolean {
    return this.code >= 500;
  }
  get reply(): ReplySpec {
    return { code: this.code, enhanced: this.enhanced, text: this.text };
  }
}

/**
 * The reply for something a backend threw: its own when it is an SmtpError with a failure code,
 * else `fallback` (an exception never turns into a success).
 */
export function replyForError(error: unknown, fallback: ReplySpec): ReplySpec {
  return error instanceof SmtpError && error.code >= 400 ? error.reply : fallback;
}

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;

// A reply line must never carry CR, LF or other controls: a backend's text could otherwise inject
// extra reply lines into the stream (RFC 5321 section 4.2: text is printable US-ASCII, SP and HT).
function clean(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, " ");
}

/** Formats a (possibly multi-line) reply, CRLF-terminated (RFC 5321 section 4.2.1). */
export function formatReply(reply: SmtpReply): string {
  const code = Number.isInteger(reply.code) && reply.code >= 200 && reply.code <= 599
    ? reply.code
    : 451;
  const lines = typeof reply.text === "string" ? [reply.text] : [...reply.text];
  if (lines.length === 0) lines.push("");
  // RFC 3463 section 2: the enhanced code's class must agree with the reply's first digit.
  const enhanced = reply.enhanced && ENHANCED.test(reply.enhanced) &&
      reply.enhanced[0] === String(code)[0]
    ? `${reply.enhanced} `
    : "";
  let out = "";
  lines.forEach((line, i) => {
    const sep = i === lines.length - 1 ? " " : "-";
    out += `${code}${sep}${enhanced}${clean(line)}\r\n`;
  });
  return out;
}

const r = (code: number, enhanced: string, text: string): ReplySpec => ({ code, enhanced, text });

/**
 * The closed catalogue of replies (the model is mox's smtpserver/error.go). Codes from RFC 5321
 * section 4.2.2, enhanced codes from RFC 3463 section 3 and the RFC 5248 registry.
 */
export const Replies = {
  // Positive completions.
  ok: r(250, "2.0.0", "OK"),
  senderOk: r(250, "2.1.0", "sender OK"),
  recipientOk: r(250, "2.1.5", "recipient OK"),
  reset: r(250, "2.0.0", "reset"),
  bye: r(221, "2.0.0", "bye"),
  help: r(214, "2.0.0", "see RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT"),
  // RFC 5321 section 3.5.3: 252 when the server will not verify but will try delivery.
  vrfy: r(252, "2.5.0", "cannot verify the user, but will accept mail and attempt delivery"),
  authOk: r(235, "2.7.0", "authentication successful"), // RFC 4954 section 6
  tlsReady: r(220, "2.0.0", "ready to start TLS"), // RFC 3207 section 4
  dataGo: { code: 354, text: "end data with <CR><LF>.<CR><LF>" } as SmtpReply,
  // Transient failures.
  shuttingDown: r(421, "4.3.2", "service shutting down, closing the connection"),
  tooManyErrors: r(421, "4.7.0", "too many errors, closing the connection"),
  tempLocal: r(451, "4.3.0", "temporary local problem, try again later"),
  // RFC 5321 section 4.2.3 (452) and RFC 3463 (4.3.1, mail system full): the bridge's content
  // budget is spent (net/byte_budget.ts); the client retries later, as with a full disk.
  storageFull: r(452, "4.3.1", "insufficient system storage, try again later"),
  tooManyRecipients: r(452, "4.5.3", "too many recipients"), // RFC 5321 section 4.5.3.1.10
  tlsUnavailable: r(454, "4.7.0", "TLS not available"), // RFC 3207 section 4
  authTemporary: r(454, "4.7.0", "temporary authentication failure"), // RFC 4954 section 6
  // Permanent failures: syntax.
  unknownCommand: r(500, "5.5.1", "command not recognized"),
  lineTooLong: r(500, "5.5.2", "line too long"), // RFC 5321 section 4.5.3.1.4
  nulByte: r(500, "5.5.2", "NUL octet in command line"),
  badUtf8: r(500, "5.5.2", "command line is not valid UTF-8"),
  syntax: (text: string) => r(501, "5.5.4", text),
  badSender: (text: string) => r(501, "5.1.7", `bad sender address: ${text}`),
  badRecipient: (text: string) => r(501, "5.1.3", `bad recipient address: ${text}`),
  authCancelled: r(501, "5.7.0", "authentication cancelled"), // RFC 4954 section 4
  badBase64: r(501, "5.5.2", "invalid base64 in authentication response"),
  expn: r(502, "5.5.1", "EXPN is not supported"), // RFC 5321 section 7.3
  authNotOffered: r(502, "5.5.1", "AUTH is not offered here"),
  badSequence: (text: string) => r(503, "5.5.1", text), // RFC 5321 section 4.1.4
  unknownMechanism: r(504, "5.5.4", "unrecognized authentication mechanism"),
  unknownParameter: (name: string) => r(555, "5.5.4", `unsupported parameter ${name}`),
  // Permanent failures: policy.
  authRequired: r(530, "5.7.0", "authentication required"), // RFC 4954 section 6
  authFailed: r(535, "5.7.8", "authentication credentials invalid"), // RFC 4954 section 6
  tlsRequired: r(538, "5.7.11", "encryption required for authentication"), // RFC 4954 section 6
  relayDenied: r(550, "5.7.1", "relaying denied"),
  // SMTP smuggling: a bare CR or LF in DATA makes the end of data ambiguous (RFC 5321 2.3.8).
  bareLineEnding: r(550, "5.5.2", "bare CR or LF in message data, message rejected"),
  messageTooBig: r(552, "5.3.4", "message exceeds the fixed maximum size"), // RFC 1870 section 6
  // RFC 6531 section 3.5: a non-ASCII address needs SMTPUTF8 in the transaction.
  needsSmtputf8: r(553, "5.6.7", "non-ASCII address requires the SMTPUTF8 parameter"),
  noValidRecipients: r(554, "5.5.1", "no valid recipients"), // RFC 5321 section 3.3
} as const;

/**
 * The SMTP command parser (RFC 5321 section 4.1): one command line in, a discriminated union out.
 * Covers EHLO/HELO, MAIL and RCPT with their ESMTP parameters (SIZE RFC 1870, BODY RFC 6152 and
 * RFC 3030, SMTPUTF8 RFC 6531, DSN RFC 3461, AUTH= RFC 4954), DATA, BDAT (RFC 3030), RSET, NOOP,
 * QUIT, VRFY, EXPN, HELP, STARTTLS (RFC 3207) and AUTH (RFC 4954). Bad input is normal: it yields
 * the exact reply to send and never throws. Pure: no I/O.
 */
import { type Address, parseAddress } from "../../schemas/address.ts";
import { Replies, type ReplySpec } from "./reply.ts";

export type BodyType = "7BIT" | "8BITMIME" | "BINARYMIME";
export type NotifyType = "NEVER" | "SUCCESS" | "FAILURE" | "DELAY";

export interface MailParams {
  /** Declared message size in octets (RFC 1870 section 3). */
  size?: number;
  body?: BodyType;
  smtputf8: boolean;
  ret?: "FULL" | "HDRS";
  /** Decoded ENVID (RFC 3461 section 4.4). */
  envid?: string;
  /** Decoded AUTH= identity (RFC 4954 section 5); null for `AUTH=<>`. */
  auth?: string | null;
}

export interface RcptParams {
  notify?: NotifyType[];
  /** Original recipient (RFC 3461 section 4.2), xtext decoded. */
  orcpt?: { addrType: string; address: string };
}

export type SmtpCommand =
  | { verb: "EHLO" | "HELO"; domain: string }
  | { verb: "MAIL"; from: Address | null; params: MailParams }
  | { verb: "RCPT"; to: Address; params: RcptParams }
  | { verb: "DATA" | "RSET" | "QUIT" | "STARTTLS" | "NOOP" }
  | { verb: "HELP"; topic?: string }
  | { verb: "VRFY" | "EXPN"; argument: string }
  | { verb: "BDAT"; size: number; last: boolean }
  | { verb: "AUTH"; mechanism: string; initialResponse?: string };

export type ParseResult =
  | { ok: true; command: SmtpCommand }
  /** `close`: the stream cannot be resynchronised (a BDAT whose size is unreadable). */
  | { ok: false; verb?: string; reply: ReplySpec; close?: boolean };

export interface ParseOptions {
  /** The transaction's MAIL carried SMTPUTF8, so RCPT may hold UTF-8 (RFC 6531 section 3.4). */
  smtputf8?: boolean;
  /** Domain for the bare `<Postmaster>` recipient (RFC 5321 section 4.1.1.3); else refused. */
  postmasterDomain?: string;
}

/** RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets including CRLF. */
export const MAX_COMMAND_OCTETS = 512;
/** RFC 4954 section 4: AUTH lines (and SASL responses) may be up to 12288 octets. */
export const MAX_LINE_OCTETS = 12288;
// Each MAIL parameter extension raises the limit: SIZE +26 (RFC 1870), BODY +16 (RFC 6152),
// ENVID/RET +100 (RFC 3461 section 4), AUTH= +500 (RFC 4954 section 5), SMTPUTF8 +10 (RFC 6531).
const MAX_MAIL_OCTETS = MAX_COMMAND_OCTETS + 26 + 16 + 100 + 500 + 10;
// NOTIFY/ORCPT +500 (RFC 3461 section 4).
const MAX_RCPT_OCTETS = MAX_COMMAND_OCTETS + 500;

const NON_ASCII = /[\u0080-\u{10FFFF}]/u;
const encoder = new TextEncoder();
function octets(s: string, limit: number): number {
  // A UTF-16 code unit is at most 3 UTF-8 octets: skip the encode when it cannot matter.
  return s.length * 3 <= limit ? s.length : encoder.encode(s).length;
}

const fail = (reply: ReplySpec, verb?: string, close?: boolean): ParseResult =>
  close ? { ok: false, verb, reply, close } : { ok: false, verb, reply };
const done = (command: SmtpCommand): ParseResult => ({ ok: true, command });

/** Parses one command line, given without its CRLF (a trailing CRLF or LF is tolerated). */
export function parseCommand(input: string, options: ParseOptions = {}): ParseResult {
  // Checked before anything else so that a 10 MB line costs one comparison.
  if (input.length > MAX_LINE_OCTETS) return fail(Replies.lineTooLong);
  let line = input.endsWith("\r\n")
    ? input.slice(0, -2)
    : input.endsWith("\n")
    ? input.slice(0, -1)
    : input;
  if (line.includes("\0")) return fail(Replies.nulByte);
  // RFC 5321 section 2.3.8: CR and LF only as the CRLF pair ending the line.
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(line)) {
    return fail(Replies.syntax("control character in command line"));
  }
  line = line.replace(/[ \t]+$/, "");
  const space = line.indexOf(" ");
  const word = space < 0 ? line : line.slice(0, space);
  const arg = space < 0 ? "" : line.slice(space + 1);
  // RFC 5321 section 2.4: verbs are case-insensitive.
  const verb = /^[A-Za-z]{1,12}$/.test(word) ? word.toUpperCase() : "";
  const limit = verb === "AUTH"
    ? MAX_LINE_OCTETS
    : verb === "MAIL"
    ? MAX_MAIL_OCTETS
    : verb === "RCPT"
    ? MAX_RCPT_OCTETS
    : MAX_COMMAND_OCTETS;
  if (octets(line, limit) + 2 > limit) return fail(Replies.lineTooLong, verb || undefined);
  const noArg = (v: "DATA" | "RSET" | "QUIT" | "STARTTLS") =>
    arg === "" ? done({ verb: v }) : fail(Replies.syntax(`${v} takes no argument`), v);
  switch (verb) {
    case "EHLO":
    case "HELO":
      return parseHelo(verb, arg);
    case "MAIL":
      return parseMail(arg);
    case "RCPT":
      return parseRcpt(arg, options);
    case "DATA":
    case "RSET":
    case "QUIT":
    case "STARTTLS": // RFC 3207 section 4: "STARTTLS" CRLF, no parameters.
      return noArg(verb);
    case "NOOP": // RFC 5321 section 4.1.1.9: an argument is allowed and ignored.
      return done({ verb });
    case "HELP":
      return done(arg ? { verb, topic: arg } : { verb });
    case "VRFY":
    case "EXPN": // RFC 5321 sections 4.1.1.6 and 4.1.1.7: the argument is required.
      return arg
        ? done({ verb, argument: arg })
        : fail(Replies.syntax(`${verb} needs an argument`));
    case "BDAT":
      return parseBdat(arg);
    case "AUTH":
      return parseAuth(arg);
    default:
      return fail(Replies.unknownCommand);
  }
}

// RFC 5321 section 4.1.1.1: "EHLO" SP ( Domain / address-literal ). Lenient on the name itself
// (underscores and IDN U-labels are common), strict on there being exactly one.
function parseHelo(verb: "EHLO" | "HELO", arg: string): ParseResult {
  if (arg === "") return fail(Replies.syntax(`${verb} needs a domain`), verb);
  if (/^\[[\x21-\x5a\x5e-\x7e]+\]$/.test(arg) || /^[A-Za-z0-9._\-\u0080-\u{10FFFF}]+$/u.test(arg)) {
    return done({ verb, domain: arg });
  }
  return fail(Replies.syntax(`syntax: ${verb} domain`), verb);
}

type PathResult = { ok: true; mailbox: string; rest: string } | { ok: false; error: string };

// RFC 5321 section 4.1.2: Path = "<" [ A-d-l ":" ] Mailbox ">"; the quoted local part may hold
// ">", so the closing bracket is searched outside quotes.
function parsePath(text: string): PathResult {
  if (!text.startsWith("<")) return { ok: false, error: "the address must be in <angle brackets>" };
  let i = 1;
  if (text[1] === "@") {
    // RFC 5321 section 4.1.1.3 and appendix C: source routes are accepted and ignored.
    const colon = text.indexOf(":");
    const adl = colon < 0 ? "" : text.slice(1, colon);
    const domains = adl.split(",");
    if (!domains.every((d) => /^@[A-Za-z0-9\-.\u0080-\u{10FFFF}]+$/u.test(d))) {
      return { ok: false, error: "malformed source route" };
    }
    i = colon + 1;
  }
  let quoted = false;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (quoted && c === "\\") j++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === ">") {
      return { ok: true, mailbox: text.slice(i, j), rest: text.slice(j + 1) };
    }
  }
  return { ok: false, error: "missing closing >" };
}

type MailboxResult = { ok: true; address: Address } | { ok: false; reply: ReplySpec };

function checkMailbox(
  mailbox: string,
  utf8: boolean,
  bad: (t: string) => ReplySpec,
): MailboxResult {
  if (mailbox !== mailbox.trim() || !mailbox.includes("@")) {
    return { ok: false, reply: bad("expected local@domain") };
  }
  // RFC 6531 section 3.5: UTF-8 in a path only when the transaction uses SMTPUTF8.
  if (!utf8 && NON_ASCII.test(mailbox)) return { ok: false, reply: Replies.needsSmtputf8 };
  const parsed = parseAddress(mailbox);
  return parsed.ok ? { ok: true, address: parsed.value } : { ok: false, reply: bad(parsed.error) };
}

type Params = { ok: true; values: Map<string, string | undefined> } | {
  ok: false;
  reply: ReplySpec;
};

// RFC 5321 section 4.1.2: esmtp-param = esmtp-keyword ["=" esmtp-value], separated by SP;
// esmtp-value excludes "=" and controls, widened to UTF-8 by RFC 6531 section 3.3.
function splitParams(text: string): Params {
  const values = new Map<string, string | undefined>();
  if (text === "") return { ok: true, values };
  if (!text.startsWith(" ")) {
    return { ok: false, reply: Replies.syntax("expected SP before parameters") };
  }
  for (const token of text.trim().split(/ +/)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e\u0080-\u{10FFFF}]+))?$/u.exec(
      token,
    );
    if (!m) {
      // Echo ASCII only: a reply line is 7-bit (RFC 5321 section 4.2), and octets the line
      // reader decoded as U+FFFD would come back as bytes the client never sent.
      const shown = token.slice(0, 40).replace(/[^\x21-\x7e]/g, "?");
      return { ok: false, reply: Replies.syntax(`malformed parameter ${shown}`) };
    }
    const key = m[1].toUpperCase();
    if (values.has(key)) return { ok: false, reply: Replies.syntax(`duplicate parameter ${key}`) };
    values.set(key, m[2]);
  }
  return { ok: true, values };
}

/** RFC 3461 section 4: xtext, "+" followed by two upper-case hex digits encodes an octet. */
export function decodeXtext(text: string): string | undefined {
  if (!/^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e\u0080-\u{10FFFF}]|\+[0-9A-Fa-f]{2})*$/u.test(text)) {
    return undefined;
  }
  return text.replace(/\+([0-9A-Fa-f]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

function parseMail(arg: string): ParseResult {
  const verb = "MAIL";
  const m = /^FROM: */i.exec(arg); // RFC 5321 4.1.1.2 has no SP after ":"; many clients send one.
  if (!m) return fail(Replies.syntax("syntax: MAIL FROM:<address> [parameters]"), verb);
  const text = arg.slice(m[0].length);
  const nullPath = text.startsWith("<>"); // RFC 5321 section 4.5.5: the null reverse-path.
  const path = nullPath ? { ok: true as const, mailbox: "", rest: text.slice(2) } : parsePath(text);
  if (!path.ok) return fail(Replies.badSender(path.error), verb);
  const split = splitParams(path.rest);
  if (!split.ok) return fail(split.reply, verb);
  const params: MailParams = { smtputf8: false };
  for (const [key, value] of split.values) {
    const bad = () => fail(Replies.syntax(`invalid ${key} value`), verb);
    if (key === "SIZE") { // RFC 1870 section 3
      if (!value || !/^\d{1,20}$/.test(value)) return bad();
      params.size = Number(value);
    } else if (key === "BODY") { // RFC 6152 section 2, RFC 3030 section 3
      const body = value?.toUpperCase();
      if (body !== "7BIT" && body !== "8BITMIME" && body !== "BINARYMIME") return bad();
      params.body = body;
    } else if (key === "SMTPUTF8") { // RFC 6531 section 3.4: no value
      if (value !== undefined) return bad();
      params.smtputf8 = true;
    } else if (key === "RET") { // RFC 3461 section 4.3
      const ret = value?.toUpperCase();
      if (ret !== "FULL" && ret !== "HDRS") return bad();
      params.ret = ret;
    } else if (key === "ENVID") { // RFC 3461 section 4.4: xtext, at most 100 characters
      const envid = value === undefined ? undefined : decodeXtext(value);
      if (envid === undefined || value!.length > 100) return bad();
      params.envid = envid;
    } else if (key === "AUTH") { // RFC 4954 section 5: xtext or <>
      const auth = value === "<>" ? null : value === undefined ? undefined : decodeXtext(value);
      if (auth === undefined) return bad();
      params.auth = auth;
    } else {
      // RFC 5321 section 4.1.1.11: unrecognised parameters get 555.
      return fail(Replies.unknownParameter(key), verb);
    }
  }
  if (!params.smtputf8 && NON_ASCII.test(path.rest)) return fail(Replies.needsSmtputf8, verb);
  if (nullPath) return done({ verb, from: null, params });
  const mailbox = checkMailbox(path.mailbox, params.smtputf8, Replies.badSender);
  if (!mailbox.ok) return fail(mailbox.reply, verb);
  return done({ verb, from: mailbox.address, params });
}

function parseRcpt(arg: string, options: ParseOptions): ParseResult {
  const verb = "RCPT";
  const m = /^TO: */i.exec(arg);
  if (!m) return fail(Replies.syntax("syntax: RCPT TO:<address> [parameters]"), verb);
  const text = arg.slice(m[0].length);
  const path = parsePath(text);
  if (!path.ok) return fail(Replies.badRecipient(path.error), verb);
  if (!options.smtputf8 && NON_ASCII.test(path.rest)) return fail(Replies.needsSmtputf8, verb);
  const split = splitParams(path.rest);
  if (!split.ok) return fail(split.reply, verb);
  const params: RcptParams = {};
  for (const [key, value] of split.values) {
    const bad = () => fail(Replies.syntax(`invalid ${key} value`), verb);
    if (key === "NOTIFY") { // RFC 3461 section 4.1: NEVER alone, or a list of the other three
      const list = (value ?? "").toUpperCase().split(",");
      const allowed = new Set(["SUCCESS", "FAILURE", "DELAY"]);
      const never = list.length === 1 && list[0] === "NEVER";
      if (!never && (!list.every((t) => allowed.has(t)) || new Set(list).size !== list.length)) {
        return bad();
      }
      params.notify = list as NotifyType[];
    } else if (key === "ORCPT") { // RFC 3461 section 4.2: addr-type ";" xtext
      const semi = value?.indexOf(";") ?? -1;
      const addrType = semi > 0 ? value!.slice(0, semi) : "";
      const address = semi > 0 ? decodeXtext(value!.slice(semi + 1)) : undefined;
      if (!/^[A-Za-z0-9!#$%&'*+\/=?^_`{|}~\-]+$/.test(addrType) || !address) return bad();
      params.orcpt = { addrType, address };
    } else {
      return fail(Replies.unknownParameter(key), verb);
    }
  }
  // RFC 5321 section 4.1.1.3: "<Postmaster>" without a domain must be accepted.
  if (/^postmaster$/i.test(path.mailbox) && options.postmasterDomain) {
    const domain = options.postmasterDomain.toLowerCase();
    return done({
      verb,
      to: { local: "postmaster", domain, address: `postmaster@${domain}` },
      params,
    });
  }
  const mailbox = checkMailbox(path.mailbox, options.smtputf8 ?? false, Replies.badRecipient);
  if (!mailbox.ok) return fail(mailbox.reply, verb);
  return done({ verb, to: mailbox.address, params });
}

// RFC 3030 section 2: "BDAT" SP chunk-size [ SP end-marker ], end-marker = "LAST".
function parseBdat(arg: string): ParseResult {
  const m = /^(\d{1,15})( LAST)?$/i.exec(arg);
  // The chunk's octets follow at once, so without a size the stream cannot be resynchronised.
  if (!m) return fail(Replies.syntax("syntax: BDAT size [LAST]"), "BDAT", true);
  return done({ verb: "BDAT", size: Number(m[1]), last: m[2] !== undefined });
}

// RFC 4954 section 4: "AUTH" SP sasl-mech [SP initial-response]; RFC 4422 section 3.1:
// mechanism names are 1 to 20 of upper-case letters, digits, "-" and "_".
function parseAuth(arg: string): ParseResult {
  const m = /^([A-Za-z0-9_-]{1,20})(?: ([A-Za-z0-9+\/]+={0,2}|=))?$/.exec(arg);
  if (!m) return fail(Replies.syntax("syntax: AUTH mechanism [initial-response]"), "AUTH");
  const mechanism = m[1].toUpperCase();
  return done(
    m[2] === undefined
      ? { verb: "AUTH", mechanism }
      : { verb: "AUTH", mechanism, initialResponse: m[2] },
  );
}

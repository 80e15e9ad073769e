/**
 * ENVELOPE, BODY and BODYSTRUCTURE from a stored `MimeStructure` (RFC 3501 section 7.4.2):
 * envelope fields with Sender and Reply-To defaulted to From, address lists with group
 * markers, basic fields, text line counts, the encapsulated envelope and body of
 * message/rfc822 parts, and the extension data (MD5, disposition, language, location) that
 * BODYSTRUCTURE adds to BODY.
 */
import type { MimeAddress, MimeEnvelope, MimePart } from "../../schemas/mime_structure.ts";
import { nstring } from "./encode.ts";

function addressList(list: MimeAddress[] | null): string {
  if (!list || list.length === 0) return "NIL";
  return "(" +
    list.map((a) =>
      `(${nstring(a.name)} ${nstring(a.adl)} ${nstring(a.mailbox)} ${nstring(a.host)})`
    ).join("") + ")";
}

/**
 * Encoded envelopes by the structure they came from: a structure is immutable and the IMAP
 * listener keeps it in its StructureCache, so a client that lists its mailbox again (FETCH 1:*
 * ENVELOPE, the commonest command there is) gets text encoded once, as Dovecot answers from its
 * cache file. Weak: an entry lives exactly as long as its structure (about 300 bytes of text
 * beside an object of several times that).
 */
const encodedEnvelopes = new WeakMap<MimeEnvelope, string>();

/** The ENVELOPE structure; `sender` and `reply-to` default to `from` (section 7.4.2). */
export function envelope(env: MimeEnvelope): string {
  let text = encodedEnvelopes.get(env);
  if (text === undefined) {
    text = encodeEnvelope(env);
    encodedEnvelopes.set(env, text);
  }
  return text;
}

/**
 * Joined, not concatenated: `join` answers one flat string, which each later FETCH copies at
 * memory speed. Template literals answer a tree of some fifty cons strings per envelope, which
 * every response walked again node by node from the cache (most of a FETCH 1:* ENVELOPE pass's
 * CPU on a 10,000-message mailbox; issue 20).
 */
function encodeEnvelope(env: MimeEnvelope): string {
  const from = env.from;
  return [
    `(${nstring(env.date)}`,
    nstring(env.subject),
    addressList(from),
    addressList(env.sender ?? from),
    addressList(env.replyTo ?? from),
    addressList(env.to),
    addressList(env.cc),
    addressList(env.bcc),
    nstring(env.inReplyTo),
    `${nstring(env.messageId)})`,
  ].join(" ");
}

function params(list: [string, string][]): string {
  if (list.length === 0) return "NIL";
  return "(" + list.map(([k, v]) => `${nstring(k)} ${nstring(v)}`).join(" ") + ")";
}

function disposition(part: MimePart): string {
  if (!part.disposition) return "NIL";
  return `(${nstring(part.disposition.type)} ${params(part.disposition.params)})`;
}

function language(part: MimePart): string {
  if (!part.language) return "NIL";
  if (part.language.length === 1) return nstring(part.language[0]);
  return "(" + part.language.map((l) => nstring(l)).join(" ") + ")";
}

const isMessage = (p: MimePart) =>
  p.type.toLowerCase() === "message" && p.subtype.toLowerCase() === "rfc822";

/** BODYSTRUCTURE when `extended`, else BODY. */
export function bodyStructure(part: MimePart, extended: boolean): string {
  if (part.type.toLowerCase() === "multipart") {
    let out = "(" + part.parts.map((p) => bodyStructure(p, extended)).join("") +
      ` ${nstring(part.subtype)}`;
    if (extended) {
      out += ` ${params(part.params)} ${disposition(part)} ${language(part)} ` +
        nstring(part.location);
    }
    return out + ")";
  }
  let out = `(${nstring(part.type)} ${nstring(part.subtype)} ${params(part.params)} ` +
    `${nstring(part.id)} ${nstring(part.description)} ${nstring(part.encoding)} ${part.size}`;
  if (isMessage(part) && part.message) {
    out += ` ${envelope(part.message.envelope)} ${bodyStructure(part.message.body, extended)} ` +
      `${part.lines}`;
  } else if (part.type.toLowerCase() === "text") {
    out += ` ${part.lines}`;
  }
  if (extended) {
    out += ` ${nstring(part.md5)} ${disposition(part)} ${language(part)} ` +
      nstring(part.location);
  }
  return out + ")";
}

/**
 * The tokens a message offers the Bayesian classifier (bayes.ts): words of the subject and the
 * body (the HTML's text when there is no plain part), the host names its links point at, the
 * author's domain, the attachments' types. Bounded, so scoring a large message costs no more
 * than scoring a small one: the first `MAX_BODY_CHARS` of the body, at most `MAX_TOKENS` distinct
 * tokens. The same function feeds training and scoring, so both see the same tokens.
 */
import type { ParsedMail } from "../../schemas/mail.ts";

const MAX_BODY_CHARS = 16_000;
const MAX_TOKENS = 600;
/** Words outside these lengths say little (and long ones are mostly base64 or ids). */
const MIN_WORD = 3;
const MAX_WORD = 24;

/** Header fields read for their names (and, for `VALUE_FIELDS`, their words). */
const MAX_HEADERS = 60;
const VALUE_FIELDS = new Set([
  "x-mailer",
  "user-agent",
  "content-type",
  "content-transfer-encoding",
  "x-priority",
  "precedence",
  "organization",
]);
/** Fields this server adds itself (and trace fields), which say nothing about the sender. */
const RECEIVING_HOP = /^(x-spam-|authentication-results$|received$|return-path$|delivered-to$)/;

const HTML_TAG = /<([a-z][a-z0-9]{0,10})\b([^>]{0,300})>/gi;
const HTML_ATTR = /\s([a-z-]{1,20})\s*=/gi;

const WORD = /[\p{L}\p{N}][\p{L}\p{N}'$€£_-]*/gu;
const URL_HOST = /\bhttps?:\/\/([a-z0-9.-]+)/gi;

/** The HTML's text: tags dropped (a few entities decoded), links kept for their hosts. */
export function htmlText(html: string): string {
  return html.slice(0, MAX_BODY_CHARS * 2)
    .replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/&nbsp;/gi, " ").replace(/&amp;/gi, "&").replace(/&lt;/gi, "<").replace(
      /&gt;/gi,
      ">",
    );
}

/** The body text a classifier and the content rules read: plain part, else the HTML's text. */
export function bodyText(mail: Pick<ParsedMail, "text" | "html">): string {
  const text = mail.text?.trim() ? mail.text : mail.html ? htmlText(mail.html) : "";
  return text.slice(0, MAX_BODY_CHARS);
}

/** The distinct tokens of a message (see the module comment). */
export function tokenize(mail: ParsedMail): string[] {
  const out = new Set<string>();
  const add = (t: string) => {
    if (out.size < MAX_TOKENS) out.add(t);
  };
  const words = (prefix: string, text: string) => {
    for (const m of text.matchAll(WORD)) {
      const w = m[0].toLowerCase();
      if (w.length < MIN_WORD) continue;
      // SpamAssassin's way with long words: their length and first letters still say something.
      add(
        w.length > MAX_WORD ? `${prefix}skip:${w[0]}${Math.floor(w.length / 10) * 10}` : prefix + w,
      );
      if (out.size >= MAX_TOKENS) return;
    }
  };
  words("s:", mail.subject ?? "");
  const from = mail.from?.address.toLowerCase();
  if (from) add(`from:${from.slice(from.lastIndexOf("@") + 1)}`);
  if (mail.from?.name) words("n:", mail.from.name);
  for (const a of mail.attachments ?? []) add(`att:${a.contentType.toLowerCase()}`);
  // Which header fields a message has says much (SpamBayes' header-name tokens): mailing-list
  // and client fields in ham, odd or missing ones in spam. Some fields' values too.
  for (const h of (mail.headers ?? []).slice(0, MAX_HEADERS)) {
    const name = h.name.toLowerCase();
    if (RECEIVING_HOP.test(name)) continue; // ours, added on arrival: the same on all mail
    add(`h:${name}`);
    if (VALUE_FIELDS.has(name)) words(`${name}:`, h.value.slice(0, 200));
    else if (name === "message-id") {
      add(`mid:${/@([^>\s]+)/.exec(h.value)?.[1]?.toLowerCase() ?? "none"}`);
    }
  }
  const body = bodyText(mail);
  const links = `${body} ${mail.html?.slice(0, MAX_BODY_CHARS * 2) ?? ""}`;
  for (const m of links.matchAll(URL_HOST)) {
    const host = m[1].toLowerCase().replace(/\.$/, "");
    const parts = host.split(".");
    add(`url:${parts.slice(-2).join(".")}`);
    if (out.size >= MAX_TOKENS) break;
  }
  if (mail.html && !mail.text?.trim()) add("mime:html-only");
  // The HTML's tags and attributes: spam is built with other markup than people's mail.
  if (mail.html) {
    for (const m of mail.html.slice(0, MAX_BODY_CHARS * 2).matchAll(HTML_TAG)) {
      add(`tag:${m[1].toLowerCase()}`);
      for (const a of m[2].matchAll(HTML_ATTR)) {
        add(`attr:${m[1].toLowerCase()}:${a[1].toLowerCase()}`);
      }
      if (out.size >= MAX_TOKENS) break;
    }
  }
  words("", body);
  return [...out];
}

/**
 * The spam pipeline's rules that need nothing but the message and its envelope: the transport's
 * authentication verdicts (SPF, DKIM, DMARC, ARC from the bridge, the federation signature),
 * the HELO name, and content rules. Each rule has a stable name (shown in `X-Spam-Status` and in
 * the message's JSON, and matched by users' Sieve scripts) and a weight; the weights follow
 * SpamAssassin's where it has the same test. Pure and cheap: one pass over bounded text.
 */
import type { ParsedMail } from "../../schemas/mail.ts";
import { bodyText } from "./tokenize.ts";

/** One rule that fired: its stable name, what it added to the score, and why. */
export interface SpamTest {
  name: string;
  score: number;
  detail?: string;
}

/** What the rules read besides the parsed message. */
export interface RuleInput {
  mail: ParsedMail;
  /** The transport's verdicts as kept in the message's JSON form (`InboundMessage.authentication`). */
  authentication?: Record<string, unknown>;
  helo?: string;
}

/** Link shorteners: a link through one hides where it goes. */
const SHORTENERS = new Set([
  "bit.ly",
  "tinyurl.com",
  "t.co",
  "goo.gl",
  "ow.ly",
  "is.gd",
  "buff.ly",
  "rebrand.ly",
  "cutt.ly",
  "shorturl.at",
  "tiny.cc",
  "rb.gy",
  "bl.ink",
  "t.ly",
  "s.id",
]);

/** Sales and scam phrases (SpamAssassin's body rules say the same things, one rule each). */
const SPAM_PHRASES = [
  "click here",
  "act now",
  "100% free",
  "risk free",
  "risk-free",
  "money back",
  "no obligation",
  "limited time",
  "order now",
  "special promotion",
  "make money",
  "extra income",
  "home based business",
  "to be removed",
  "remove you from",
  "this is not spam",
  "dear friend",
  "you have been selected",
  "lowest rate",
  "credit card",
  "wire transfer",
  "once in a lifetime",
  "satisfaction guaranteed",
  "free gift",
  "call now",
  "buy now",
  "apply now",
  "unsubscribe here",
  "opt-out",
  "viagra",
];

/** Attachment names Windows runs when opened (and double extensions hiding them). */
const EXECUTABLE = /\.(exe|scr|pif|bat|cmd|com|vbs|vbe|js|jse|jar|msi|lnk|hta|wsf|cpl|ps1|reg)$/i;

const get = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>(
    (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
    o,
  );

const header = (mail: ParsedMail, name: string) =>
  mail.headers?.find((h) => h.name.toLowerCase() === name)?.value;

const hostOf = (url: string) => {
  const m = /^https?:\/\/([^/?#:\s]+)/i.exec(url.trim());
  return m ? m[1].toLowerCase().replace(/^www\./, "").replace(/\.$/, "") : undefined;
};

/** Registrable-ish domain: the last two labels (enough to tell `paypal.com` from `evil.ru`). */
const site = (host: string) => host.split(".").slice(-2).join(".");

/** The authentication rules: SPF, DKIM, DMARC, ARC and the federation signature. */
export function authTests(authentication: Record<string, unknown> | undefined): SpamTest[] {
  const out: SpamTest[] = [];
  if (!authentication) return out;
  if (get(authentication, "federation", "result") === "pass") {
    out.push({ name: "SIGNED_FEDERATION", score: -2.0, detail: "federation signature verified" });
  }
  const spf = get(authentication, "spf", "result");
  if (spf === "fail") out.push({ name: "SPF_FAIL", score: 2.0 });
  else if (spf === "softfail") out.push({ name: "SPF_SOFTFAIL", score: 1.0 });
  else if (spf === "pass") out.push({ name: "SPF_PASS", score: -0.1 });
  const dkim = get(authentication, "dkim");
  if (Array.isArray(dkim) && dkim.length > 0) {
    if (dkim.some((d) => d?.result === "pass" && d?.aligned)) {
      out.push({ name: "DKIM_VALID_AU", score: -0.3 });
    } else if (dkim.some((d) => d?.result === "pass")) {
      out.push({ name: "DKIM_VALID", score: -0.1 });
    } else if (dkim.some((d) => d?.result === "fail")) {
      out.push({ name: "DKIM_INVALID", score: 1.0 });
    }
  }
  const dmarc = get(authentication, "dmarc", "result");
  if (dmarc === "pass") out.push({ name: "DMARC_PASS", score: -0.5 });
  else if (dmarc === "fail") out.push({ name: "DMARC_FAIL", score: 3.0 });
  const arc = get(authentication, "arc", "result");
  if (arc === "fail") out.push({ name: "ARC_INVALID", score: 0.5 });
  return out;
}

/** True when the sender authenticated and aligned with the From domain (DMARC or federation). */
export function alignedSender(authentication: Record<string, unknown> | undefined): boolean {
  return get(authentication, "dmarc", "result") === "pass" ||
    get(authentication, "federation", "result") === "pass";
}

/** RFC 5321 section 4.1.1.1: a HELO should be the client's fully qualified domain name. */
export function heloTests(helo: string | undefined): SpamTest[] {
  if (helo === undefined) return [];
  const name = helo.trim();
  if (!name) return [{ name: "HELO_MISSING", score: 1.0 }];
  if (/^\[?[0-9.:a-f]+\]?$/i.test(name) && /[.:]/.test(name) && /\d/.test(name)) {
    return [{ name: "HELO_IP_LITERAL", score: 0.5, detail: name.slice(0, 64) }];
  }
  if (!name.includes(".")) return [{ name: "HELO_NO_DOT", score: 1.0, detail: name.slice(0, 64) }];
  return [];
}

/** `<a href="…">text</a>` pairs of the HTML (bounded). */
function* anchors(html: string): Generator<[string, string]> {
  const re = /<a\b[^>]*?href\s*=\s*["']?([^"'\s>]+)["']?[^>]*>([\s\S]{0,300}?)<\/a\s*>/gi;
  let n = 0;
  for (const m of html.slice(0, 64_000).matchAll(re)) {
    if (++n > 200) return;
    yield [m[1], m[2].replace(/<[^>]*>/g, "").trim()];
  }
}

/** The content rules, each with its stable name. */
export function contentTests(mail: ParsedMail): SpamTest[] {
  const out: SpamTest[] = [];
  if (mail.degraded) return out; // only the header was read: no body rules
  if (mail.date === undefined && !header(mail, "date")) {
    out.push({ name: "MISSING_DATE", score: 1.0 });
  }
  if (!mail.messageId) out.push({ name: "MISSING_MID", score: 0.5 });
  if (!mail.subject?.trim()) out.push({ name: "MISSING_SUBJECT", score: 0.5 });
  const type = header(mail, "content-type")?.toLowerCase() ?? "";
  if (type.startsWith("text/html") || (mail.html && !mail.text?.trim())) {
    out.push({ name: "MIME_HTML_ONLY", score: 1.0 });
  }
  const letters = (mail.subject ?? "").replace(/[^\p{L}]/gu, "");
  if (
    letters.length >= 10 && letters === letters.toUpperCase() && letters !== letters.toLowerCase()
  ) {
    out.push({ name: "SUBJ_ALL_CAPS", score: 1.0 });
  }
  if (/!{3,}|\$\$\$/.test(mail.subject ?? "")) out.push({ name: "SUBJ_EXCLAIM", score: 0.5 });

  // A display name that is itself an address of another domain: "paypal.com <x@evil.example>".
  const from = mail.from;
  if (from?.name) {
    const claimed = /([a-z0-9._%+-]+@)?((?:[a-z0-9-]+\.)+[a-z]{2,})/i.exec(from.name);
    const real = from.address.slice(from.address.lastIndexOf("@") + 1).toLowerCase();
    if (claimed?.[1] && site(claimed[2].toLowerCase()) !== site(real)) {
      out.push({ name: "FROM_DISPLAY_FORGED", score: 2.0, detail: from.name.slice(0, 80) });
    }
  }

  const text = bodyText(mail);
  const urls = `${text} ${mail.html?.slice(0, 64_000) ?? ""}`.match(/\bhttps?:\/\/[^\s"'<>)]+/gi) ??
    [];
  const hosts = urls.slice(0, 500).map(hostOf).filter((h): h is string => !!h);
  const shortener = hosts.find((h) => SHORTENERS.has(h));
  if (shortener) out.push({ name: "URI_SHORTENER", score: 1.5, detail: shortener });
  const bare = hosts.find((h) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h));
  if (bare) out.push({ name: "URI_NUMERIC_IP", score: 1.5, detail: bare });
  if (mail.html) {
    for (const [href, label] of anchors(mail.html)) {
      const target = hostOf(href);
      const shown = hostOf(
        /^https?:\/\//i.test(label) ? label : /^www\./i.test(label) ? `http://${label}` : "",
      );
      if (target && shown && site(target) !== site(shown)) {
        out.push({ name: "HTML_LINK_MISMATCH", score: 2.0, detail: `${shown} -> ${target}` });
        break;
      }
    }
  }
  const lower = `${mail.subject ?? ""}\n${text}`.toLowerCase();
  const phrases = SPAM_PHRASES.filter((p) => lower.includes(p));
  if (phrases.length >= 2) {
    out.push({
      name: phrases.length >= 4 ? "BODY_SPAM_PHRASES_MANY" : "BODY_SPAM_PHRASES",
      score: phrases.length >= 4 ? 2.5 : 1.0,
      detail: phrases.slice(0, 4).join(", "),
    });
  }
  const exe = mail.attachments?.find((a) => EXECUTABLE.test(a.filename.trim()));
  if (exe) out.push({ name: "ATTACH_EXECUTABLE", score: 4.0, detail: exe.filename.slice(0, 80) });
  return out;
}

/**
 * Whether a `vacation` action answers, and the answer's bytes (RFC 5230 sections 4-5, RFC 3834
 * section 2-3). Never answered: a null envelope sender; mail whose Auto-Submitted is anything
 * but "no"; list and bulk mail (List-Id and the other RFC 2369/2919 fields, Precedence bulk,
 * list or junk); senders that are robots (MAILER-DAEMON, LISTSERV, majordomo, owner-*,
 * *-request); the user's own mail; and mail that does not name one of the user's addresses in
 * To, Cc, Bcc or their Resent- forms (section 4.5). The reply goes to the envelope sender with an
 * empty envelope sender of its own, `Auto-Submitted: auto-replied`, and In-Reply-To/References.
 * How often a sender is answered (`:days`) is the caller's to track. Pure.
 */
import { readAddressList } from "../mime/address_list.ts";
import { field, quotedPrintable, unstructured } from "../mime/compose.ts";
import { decodeWords } from "../mime/encoded_words.ts";
import { rfc5322Date } from "../mime/dsn.ts";
import type { SieveMessage, VacationRequest } from "./context.ts";

export interface VacationInput {
  request: VacationRequest;
  msg: SieveMessage;
  /** The account's own addresses (its address and the aliases that reach it). */
  own: string[];
}

export type VacationDecision =
  | { send: false; why: string }
  | { send: true; to: string; from: string; subject: string; handle: string };

const LIST_FIELDS = [
  "list-id",
  "list-help",
  "list-subscribe",
  "list-unsubscribe",
  "list-post",
  "list-owner",
  "list-archive",
];
const ROBOT_LOCAL =
  /^(mailer-daemon|listserv|majordomo|owner-.*|.*-request|postmaster|noreply|no-reply)$/i;
const RECIPIENT_FIELDS = ["to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc"];

/** `local+detail@domain` and `local@domain` are one address here (RFC 5233). */
function addressKey(address: string): string {
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf("@");
  if (at < 0) return a;
  const local = a.slice(0, at);
  const plus = local.indexOf("+");
  return `${plus >= 0 ? local.slice(0, plus) : local}${a.slice(at)}`;
}

const header = (msg: SieveMessage, name: string) =>
  msg.headers.filter((h) => h.name.toLowerCase() === name).map((h) => h.value.trim());

export function decideVacation({ request, msg, own }: VacationInput): VacationDecision {
  const sender = msg.envelope.from.trim();
  if (sender === "") return { send: false, why: "null envelope sender (RFC 3834 section 2)" };
  const auto = header(msg, "auto-submitted");
  if (auto.some((v) => !/^no\b/i.test(v))) {
    return { send: false, why: "Auto-Submitted mail (RFC 3834 section 2)" };
  }
  if (LIST_FIELDS.some((f) => header(msg, f).length > 0)) {
    return { send: false, why: "list mail (RFC 5230 section 4.6)" };
  }
  if (header(msg, "precedence").some((v) => /^(bulk|list|junk)\b/i.test(v))) {
    return { send: false, why: "Precedence bulk, list or junk (RFC 3834 section 2)" };
  }
  const senderLocal = sender.slice(0, sender.lastIndexOf("@"));
  if (ROBOT_LOCAL.test(senderLocal)) {
    return { send: false, why: "the sender is a robot or list address (RFC 5230 section 4.6)" };
  }
  const mine = new Set([...own, ...request.addresses].map(addressKey));
  if (mine.has(addressKey(sender))) return { send: false, why: "mail from the user's own address" };
  const named = RECIPIENT_FIELDS.flatMap((f) => header(msg, f))
    .flatMap((v) => readAddressList(v).map((a) => addressKey(a.address)));
  if (!named.some((a) => mine.has(a))) {
    return { send: false, why: "none of the user's addresses is in To, Cc or Bcc (RFC 5230 4.5)" };
  }
  // Section 4.4: `:from` only when it is one of the user's addresses (no spoofing others).
  const from = request.from && mine.has(addressKey(bareAddress(request.from)))
    ? request.from
    : own[0];
  const original = decodeWords(header(msg, "subject")[0] ?? "");
  // Section 4.3 (5.5 of the draft): the default subject is "Auto: " and the original's.
  const subject = request.subject ?? `Auto: ${original}`.trim();
  return { send: true, to: sender, from, subject, handle: vacationHandle(request) };
}

function bareAddress(s: string): string {
  const m = /<([^>]*)>/.exec(s);
  return (m ? m[1] : s).trim();
}

/** Section 4.2: without `:handle`, the arguments that shape the reply name it. */
export function vacationHandle(r: VacationRequest): string {
  if (r.handle !== undefined) return `h:${r.handle}`;
  const text = JSON.stringify([r.reason, r.subject ?? "", r.from ?? "", r.mime]);
  // FNV-1a, 32 bits twice: a stable short name, not a security boundary.
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    h1 = Math.imul(h1 ^ text.charCodeAt(i), 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ text.charCodeAt(i), 0x811c9dc5) >>> 0;
  }
  return `a:${h1.toString(16)}${h2.toString(16)}`;
}

export interface VacationReply {
  raw: Uint8Array;
  messageId: string;
}

/** Section 5: the reply's bytes. With `:mime` the reason is a MIME entity of its own. */
export function composeVacation(
  decision: Extract<VacationDecision, { send: true }>,
  request: VacationRequest,
  msg: SieveMessage,
  hostname: string,
  now: number,
): VacationReply {
  const messageId = `<vacation.${crypto.randomUUID()}@${hostname}>`;
  const originalId = header(msg, "message-id")[0];
  const references = [...(header(msg, "references")[0]?.split(/\s+/) ?? []), originalId]
    .filter((r): r is string => !!r && /^<[^<>\s]+>$/.test(r));
  const fromText = decision.from.includes("<") ? decision.from : `<${decision.from}>`;
  const head = [
    field("From", fromText.replace(/[\r\n]/g, " ")),
    field("To", `<${decision.to}>`),
    unstructured("Subject", decision.subject.replace(/[\r\n]+/g, " ")),
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: ${messageId}`,
    ...(originalId && /^<[^<>\s]+>$/.test(originalId) ? [`In-Reply-To: ${originalId}`] : []),
    ...(references.length ? [field("References", references.join(" "))] : []),
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
  ];
  let body: string;
  if (request.mime) {
    // The reason is the entity: its own header fields, an empty line, its body.
    body = request.reason.replace(/\r?\n/g, "\r\n");
  } else {
    const lines = request.reason.replace(/\r\n/g, "\n").replace(/\n$/, "").split("\n");
    body = "Content-Type: text/plain; charset=utf-8\r\n" +
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + quotedPrintable(lines);
  }
  const raw = new TextEncoder().encode(head.join("\r\n") + "\r\n" + body + "\r\n");
  return { raw, messageId };
}

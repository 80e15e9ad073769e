/**
 * Mail that comes back: delivery status notifications (RFC 3464, `multipart/report;
 * report-type=delivery-status`) and abuse feedback reports (RFC 5965 ARF,
 * `report-type=feedback-report`). The original message is found by the signed VERP return
 * path the report was sent to, or else by the `X-Postern-Email-Id` and `Message-ID` of the
 * returned original (both must match); each reported recipient becomes a `bounced`,
 * `deferred`, `delivered` or `complained` event, recorded by one write job (return_events.ts)
 * that is idempotent: the same report twice, or at two gateways at once, records it once. Pure
 * text parsing of the report parts.
 */
import type { TxEventType } from "../../schemas/tx_send.ts";
import type { Deps } from "../deps.ts";
import { sha256Hex } from "../crypto.ts";
import { parseVerp } from "./signing.ts";
import { type ReturnedMessage, type ReturnEvent, returnEventStatements } from "./return_events.ts";

interface Part {
  headers: Map<string, string>;
  body: string;
}

function splitHeaders(text: string): Part {
  const end = text.search(/\r?\n\r?\n/);
  const head = end >= 0 ? text.slice(0, end) : text;
  const body = end >= 0 ? text.slice(end).replace(/^\r?\n\r?\n/, "") : "";
  const headers = new Map<string, string>();
  let last = "";
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) {
      headers.set(last, `${headers.get(last)} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(last)) headers.set(last, line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function boundaryOf(contentType: string | undefined): string | undefined {
  const m = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? "");
  return m ? (m[1] ?? m[2]) : undefined;
}

/** The parts of a multipart body, one level deep (RFC 2046 section 5.1.1). */
function parts(message: Part): Part[] {
  const boundary = boundaryOf(message.headers.get("content-type"));
  if (!boundary) return [];
  const chunks = message.body.split(
    new RegExp(
      `\\r?\\n?--${boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?:--)?[ \\t]*\\r?\\n?`,
    ),
  );
  return chunks.slice(1).filter((c) => c.trim() !== "").map(splitHeaders);
}

/** The field groups of a message/delivery-status or feedback-report body. */
function fieldGroups(body: string): Map<string, string>[] {
  return body.split(/\r?\n[ \t]*\r?\n/).map((g) => splitHeaders(`${g}\r\n\r\n`).headers)
    .filter((h) => h.size > 0);
}

const stripType = (v: string | undefined) => (v ?? "").replace(/^[^;]*;\s*/, "").trim();

export interface ReturnOutcome {
  kind: "dsn" | "arf" | "unknown";
  emailId?: string;
  events: ReturnEvent[];
}

/**
 * How the report names its message (return_events.ts finds it in SQL): the ids of the envelope
 * recipients that are our signed VERP return paths, and the returned original's
 * `X-Postern-Email-Id` and `Message-ID`.
 */
async function namedMessage(
  deps: Deps,
  envelopeRecipients: string[],
  original: Part | undefined,
): Promise<ReturnedMessage> {
  const verpIds: string[] = [];
  for (const rcpt of envelopeRecipients) {
    const emailId = await parseVerp(deps, rcpt);
    if (emailId) verpIds.push(emailId);
  }
  const emailId = original?.headers.get("x-postern-email-id")?.trim();
  const messageId = original?.headers.get("message-id")?.trim();
  return emailId && messageId ? { verpIds, emailId, messageId } : { verpIds };
}

/** Reads a returned report and records its events; unknown mail is ignored. */
export async function ingestReturn(
  deps: Deps,
  raw: Uint8Array,
  envelopeRecipients: string[] = [],
): Promise<ReturnOutcome> {
  const top = splitHeaders(new TextDecoder().decode(raw.subarray(0, 4 * 1024 * 1024)));
  const type = (top.headers.get("content-type") ?? "").toLowerCase();
  const report = /report-type\s*=\s*"?([\w-]+)/.exec(type)?.[1];
  const all = parts(top);
  const original = all.find((p) =>
    /^(message\/rfc822|text\/rfc822-headers|message\/rfc822-headers)/i.test(
      p.headers.get("content-type") ?? "",
    )
  );
  const originalMessage = original ? splitHeaders(original.body) : undefined;
  const named = await namedMessage(deps, envelopeRecipients, originalMessage);
  const events: ReturnOutcome["events"] = [];
  if (report === "delivery-status") {
    const status = all.find((p) =>
      /^message\/(global-)?delivery-status/i.test(p.headers.get("content-type") ?? "")
    );
    for (const g of fieldGroups(status?.body ?? "").slice(1)) {
      const recipient = stripType(g.get("final-recipient") ?? g.get("original-recipient"));
      const action = (g.get("action") ?? "").toLowerCase();
      const code = (g.get("status") ?? "").trim();
      const t: TxEventType | undefined = action === "failed"
        ? "bounced"
        : action === "delayed"
        ? "deferred"
        : action === "delivered" || action === "relayed" || action === "expanded"
        ? "delivered"
        : undefined;
      if (recipient && t) {
        const diagnostic = stripType(g.get("diagnostic-code")) || undefined;
        events.push({ recipient: recipient.toLowerCase(), type: t, status: code, diagnostic });
      }
    }
  } else if (report === "feedback-report") {
    const fb = all.find((p) =>
      /^message\/feedback-report/i.test(p.headers.get("content-type") ?? "")
    );
    const fields = fieldGroups(fb?.body ?? "")[0] ?? new Map();
    const rcpt = stripType(fields.get("original-rcpt-to")) ||
      (originalMessage?.headers.get("to") ?? "").replace(/^.*<([^>]+)>.*$/, "$1").trim();
    if (rcpt) {
      events.push({
        recipient: rcpt.toLowerCase(),
        type: "complained",
        status: fields.get("feedback-type") ?? "abuse",
      });
    }
  }
  const kind = report === "delivery-status"
    ? "dsn"
    : report === "feedback-report"
    ? "arf"
    : "unknown";
  if (events.length === 0 || (named.verpIds.length === 0 && !named.emailId)) {
    return { kind, events: [] };
  }
  // The same report arriving again (a retried SMTP transaction, a second copy) records nothing
  // new: it is known by its Message-ID, or by its digest when it has none.
  const reportId = top.headers.get("message-id")?.trim() || `sha256:${await sha256Hex(raw)}`;
  // One write job, the report's one round trip (return_events.ts); its last statement names the
  // message and which reported addresses are its recipients: a report cannot suppress an
  // address the message was not sent to.
  const results = await deps.store.batch(
    returnEventStatements(named, events, reportId, deps.clock.now()),
  );
  const [found] = results[results.length - 1].rows;
  if (found?.email_id === null || found?.email_id === undefined) return { kind, events: [] };
  const emailId = String(found.email_id);
  const own = new Set(JSON.parse(String(found.own ?? "[]")) as string[]);
  const mine = events.filter((e) => own.has(e.recipient));
  deps.logger.log("info", "tx.return", { kind, emailId, events: mine.length });
  return { kind, emailId, events: mine };
}

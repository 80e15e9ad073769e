/**
 * Inbound mail through Cloudflare Email Routing (the Worker's `email()` handler): one message for
 * one recipient, delivered into the same pipeline as the MX (src/services/delivery.ts `deliver`),
 * with the SPF/DMARC/ARC verdicts Cloudflare's MX reported (auth_results.ts) and Postern's own
 * DKIM check (dkim_verify.ts) kept in the message's JSON form and written into our own
 * Authentication-Results field, and a Received field (RFC 5321 section 4.4) naming the hop.
 *
 * Answers, as the MX would give them at RCPT and DATA: an unknown recipient and a message over
 * POSTERN_MAX_MESSAGE_BYTES are refused with `setReject` (a 5xx the sending server bounces); a
 * temporary refusal (a full mailbox) or a store failure throws, which Email Routing answers with
 * a temporary failure, so the sender retries. A retry is stored once: the trace fields added here
 * are left out of the duplicate key (`traceBytes`), so the same bytes from Cloudflare again find
 * the stored copy and answer `duplicate`.
 */
import type { Deps } from "../../src/deps.ts";
import { parseHeaderBlock } from "../../src/mime/header_block.ts";
import { rfc5322Date } from "../../src/mime/dsn.ts";
import { deliver, postmasterRoute, servesRecipient } from "../../src/services/delivery.ts";
import { receiveReturn, returnPathMessage } from "../../src/transactional/return_path.ts";
import {
  aligned,
  authorDomain,
  CLOUDFLARE_AUTHSERV_ID,
  cloudflareVerdict,
  type EdgeVerdict,
} from "./auth_results.ts";
import { verifyDkim } from "./dkim_verify.ts";

/** The part of Workers' `ForwardableEmailMessage` used here. */
export interface InboundEmail {
  readonly from: string;
  readonly to: string;
  readonly raw: ReadableStream<Uint8Array>;
  readonly rawSize: number;
  setReject(reason: string): void;
}

export type EmailOutcome = "delivered" | "duplicate" | "rejected";

/** RFC 8601 field for what Cloudflare's MX found, under our own authserv-id. */
function authResultsField(hostname: string, v: EdgeVerdict, ownDkim: boolean): string {
  const lines = [
    `spf=${v.spf.result}${v.spf.domain ? ` smtp.mailfrom=${v.spf.domain}` : ""}`,
    ...(v.dkim.length === 0
      ? ["dkim=none"]
      : v.dkim.map((d) =>
        `dkim=${d.result}${d.domain ? ` header.d=${d.domain}` : ""}${
          d.selector ? ` header.s=${d.selector}` : ""
        }`
      )),
    `dmarc=${v.dmarc.result}${v.dmarc.domain ? ` header.from=${v.dmarc.domain}` : ""}`,
    `arc=${v.arc.result}`,
  ];
  const reported = v.authservId ? `as reported by ${v.authservId}` : "no results received";
  const source = ownDkim ? ` (dkim checked here; the rest ${reported})` : ` (${reported})`;
  return `Authentication-Results: ${hostname};\r\n ${lines.join(";\r\n ")}${source}\r\n`;
}

const printable = (s: string) => s.replace(/[^\x21-\x7e]/g, "");

/** Room kept before the message for the trace fields added here (more is a copy). */
const TRACE_ROOM = 8 * 1024;

/**
 * `stream` read once into one buffer with TRACE_ROOM free before the message, so the trace
 * fields go in front without copying the message again (a 25 MB message in a 128 MB Worker;
 * issue 17, item 5). Sized from `sizeHint` (Email Routing's `rawSize`) and grown only if the
 * stream is longer; null past `limit`.
 */
async function readWithRoom(
  stream: ReadableStream<Uint8Array>,
  sizeHint: number,
  limit: number,
): Promise<{ buffer: Uint8Array; raw: Uint8Array } | null> {
  let buffer = new Uint8Array(TRACE_ROOM + Math.min(Math.max(sizeHint, 0), limit));
  let at = TRACE_ROOM;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at - TRACE_ROOM + value.byteLength > limit) {
      await reader.cancel();
      return null;
    }
    if (at + value.byteLength > buffer.byteLength) {
      const grown = new Uint8Array(Math.max(buffer.byteLength * 2, at + value.byteLength));
      grown.set(buffer.subarray(0, at));
      buffer = grown;
    }
    buffer.set(value, at);
    at += value.byteLength;
  }
  return { buffer, raw: buffer.subarray(TRACE_ROOM, at) };
}

/** `trace` then `raw`: in the room before `raw` when it fits, else in a new buffer. */
function prepend(read: { buffer: Uint8Array; raw: Uint8Array }, trace: Uint8Array): Uint8Array {
  const { buffer, raw } = read;
  if (trace.byteLength <= raw.byteOffset - buffer.byteOffset) {
    const start = raw.byteOffset - buffer.byteOffset - trace.byteLength;
    buffer.set(trace, start);
    return buffer.subarray(start, start + trace.byteLength + raw.byteLength);
  }
  const traced = prepend(read, trace);
  return traced;
}

export async function receiveEmail(deps: Deps, message: InboundEmail): Promise<EmailOutcome> {
  const { config, logger } = deps;
  const to = message.to.trim();
  const reject = (reply: string, why: string): EmailOutcome => {
    logger.log("info", "email.rejected", { to, reply: why });
    message.setReject(reply);
    return "rejected";
  };
  if (message.rawSize > config.maxMessageBytes) {
    return reject(
      `552 5.3.4 message too large (limit ${config.maxMessageBytes} bytes)`,
      "message_too_large",
    );
  }
  // RCPT first: nothing is read for an address nobody here takes.
  const postmaster = postmasterRoute(config);
  const served = await servesRecipient(deps.store.db, to, postmaster);
  const returnPath = !served && (await returnPathMessage(deps, to)) !== undefined;
  if (!served && !returnPath) {
    return reject(`550 5.1.1 <${printable(to)}>: no such mailbox here`, "no_such_recipient");
  }
  // Refused past the limit whatever `rawSize` said.
  const read = await readWithRoom(message.raw, message.rawSize, config.maxMessageBytes);
  if (!read) {
    return reject(
      `552 5.3.4 message too large (limit ${config.maxMessageBytes} bytes)`,
      "message_too_large",
    );
  }
  const raw = read.raw;
  if (returnPath) {
    // A bounce or complaint about one of our messages (VERP): events, never a mailbox.
    await receiveReturn(deps, raw, [to]);
    return "delivered";
  }
  const fields = parseHeaderBlock(raw);
  const cloudflare = cloudflareVerdict(fields);
  if (cloudflare.disposition === "reject") {
    // RFC 7489 section 6.6.4 (p=reject), as the MX answers it (bridge/smtp/inbound_auth.ts).
    return reject(
      `550 5.7.1 rejected by the DMARC policy of ${printable(cloudflare.dmarc.domain)}`,
      "dmarc_reject",
    );
  }
  // Our own DKIM check (Web Crypto, DNS over HTTPS) where the message is signed; Cloudflare's
  // DKIM results are kept beside it.
  const own = deps.dns ? await verifyDkim(raw, deps.dns) : [];
  const from = cloudflare.dmarc.domain || authorDomain(fields);
  const verdict: EdgeVerdict = own.length === 0 ? cloudflare : {
    ...cloudflare,
    dkim: own.map((r) => ({
      result: r.result,
      domain: r.domain,
      selector: r.selector,
      algo: r.algo,
      aligned: aligned(r.domain, from),
    })),
  };
  const trace = new TextEncoder().encode(
    authResultsField(config.hostname, verdict, own.length > 0) +
      // RFC 5321 section 4.4: the hop that handed the message to us (Email Routing's MX).
      `Received: from ${CLOUDFLARE_AUTHSERV_ID} (Cloudflare Email Routing)\r\n` +
      ` by ${config.hostname} (Postern, Cloudflare Email Worker) for <${printable(to)}>;\r\n` +
      ` ${rfc5322Date(Date.now())}\r\n`,
  );
  const traced = prepend(read, trace);
  const { authservId: _, disposition, ...checks } = verdict;
  const [result] = await deliver(deps, {
    raw: traced,
    mailFrom: message.from,
    recipients: [to],
    source: "smtp",
    authentication: {
      ...checks,
      disposition,
      via: "cloudflare-email-routing",
      ...(own.length > 0 ? { dkimBy: config.hostname, cloudflareDkim: cloudflare.dkim } : {}),
    },
    mailboxRole: disposition === "junk" ? "junk" : "inbox",
    traceBytes: trace.byteLength,
  });
  deps.metrics?.received("smtp", [result]);
  if (result.status === "rejected") {
    if (result.temporary) {
      // Email Routing turns an exception into a temporary failure: the sender tries again.
      throw new Error(`temporary refusal for ${to}: ${result.code} ${result.reason ?? ""}`);
    }
    const enhanced = result.code === "quota_exceeded"
      ? "552 5.2.2"
      : result.code === "message_too_large"
      ? "552 5.3.4"
      : "550 5.1.1";
    return reject(`${enhanced} <${printable(to)}>: ${result.reason ?? result.code}`, result.code!);
  }
  logger.log("info", "email.received", { to, status: result.status, size: raw.byteLength });
  return result.status === "duplicate" ? "duplicate" : "delivered";
}

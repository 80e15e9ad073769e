/**
 * Transactional sends (`POST /v1/emails`, `POST /v1/emails/batch`) on top of the account send
 * path (services/send.ts): template rendering, the suppression check, tracking and RFC 8058
 * headers, a signed VERP return path, `sendAt` (the outbox rows wait in the database until then)
 * and the Idempotency-Key — whose row, the message record, its recipients and their first
 * events are all written in the send's own write job, one round trip: the key is claimed by its
 * first step (a concurrent twin breaks the primary key and replays), and ids the job creates
 * (Sent copy, outbox rows) are named in SQL by the steps that need them.
 */
import { domainOf } from "../../schemas/address.ts";
import type { BatchResponse, TxSendRequest, TxSendResponse } from "../../schemas/tx_send.ts";
import type { Base64Content } from "../../schemas/mail.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { findDomain } from "../services/accounts.ts";
import { attachmentContent, named, type SendInput, sendMessage } from "../services/send.ts";
import { appendLater, rawSql, recordStatements, schema } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import {
  checkKey,
  claimedResponse,
  claimKeyStatements,
  type IdempotencyKey,
  idempotencyKey,
  IdempotentReplay,
  recordKey,
  replayAfterConflict,
} from "./idempotency.ts";
import { newEmailId, verpAddress } from "./signing.ts";
import { suppressedAmong } from "./suppression.ts";
import { uploadedBytes } from "./uploads.ts";
import { fetchAttachment } from "./attachment_fetch.ts";
import { getTemplate, renderTemplate } from "./templates.ts";
import { recordTestSend } from "./test_mode.ts";
import { recordEvent, type TxMessageRow } from "./timeline.ts";
import { activeWebhooks } from "./webhooks.ts";
import { applyTracking, type TrackingChoice, trackingFor, unsubscribeHeaders } from "./tracking.ts";
import type { WebhookRow } from "./webhooks.ts";

// Written for every message the send API accepts: plain SQL (store/table_sql.ts).
const txMessagesSql = tableSql(schema.txMessages);
const txRecipientsSql = tableSql(schema.txRecipients);
/** A `tx_messages` row whose `sent_ref` is `sentRef` (SQL naming the job's Sent copy). */
const txMessageWithSentSql = (sentRef: string) =>
  `INSERT INTO tx_messages (id, account_id, domain, from_address, subject, sent_ref,
     message_id_header, tags, metadata, send_at, state, template, created_at)
   VALUES (?, ?, ?, ?, ?, ${sentRef}, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * Reads the items of one batch share: the sending domains' tracking settings, the account's
 * webhook endpoints and the suppression check, read once per batch instead of once per message.
 */
export interface BatchShared {
  tracking: Map<string, Promise<TrackingChoice>>;
  hooks?: Promise<WebhookRow[]>;
  /** Per sending domain: which of the batch's recipients it has suppressed (one query each). */
  suppressed: Map<string, Promise<Set<string>>>;
}

export interface SendResult {
  status: number;
  body: TxSendResponse;
  replayed: boolean;
}

/** Attachments whose base64 text was checked ahead of the send (`checkAttachmentsAhead`), by
 * the request's attachment object. */
const checkedAhead = new WeakMap<object, Uint8Array | Base64Content>();

/**
 * Checks the base64 `content` of `req`'s attachments now (a 422 when one is not base64) and
 * takes it off the request object (`content` becomes undefined; the checked text is found by
 * the attachment object). Plain base64 stays text, copied into the message as it is
 * (src/mime/base64_text.ts) rather than decoded to an 18 MB buffer and encoded again (issue 17:
 * a 25 MB send in a 128 MB Worker); other base64 is decoded here. Called by the route once it
 * no longer needs the request's own copy (after the idempotency key is computed); the same
 * request may then be sent again (a retried write job).
 */
export function checkAttachmentsAhead(req: TxSendRequest): void {
  for (const a of req.attachments) {
    if (a.content === undefined) continue;
    checkedAhead.set(a, attachmentContent(a.content));
    a.content = undefined;
  }
}

async function resolveAttachments(deps: Deps, accountId: number, req: TxSendRequest) {
  const ids = req.attachments.flatMap((a) => (a.blobId ? [a.blobId] : []));
  const blobs = ids.length ? await uploadedBytes(deps.store.db, accountId, ids) : new Map();
  // By URL: fetched in parallel, before anything is written (transactional/attachment_fetch.ts).
  const fetched = await Promise.all(
    req.attachments.map((a, i) => (a.path ? fetchAttachment(deps, a.path, i) : undefined)),
  );
  const OCTETS = "application/octet-stream";
  return req.attachments.map((a, i) => {
    const inline = a.contentId ? { contentId: a.contentId } : {};
    const got = fetched[i];
    if (got) {
      return {
        filename: a.filename ?? got.filename,
        contentType: a.contentType ?? got.contentType ?? OCTETS,
        content: got.content,
        ...inline,
      };
    }
    const filename = a.filename!; // required without `path` (schemas/tx_send.ts)
    const checked = checkedAhead.get(a);
    if (checked) {
      return { filename, contentType: a.contentType ?? OCTETS, content: checked, ...inline };
    }
    if (a.content !== undefined) {
      return { filename, contentType: a.contentType ?? OCTETS, content: a.content, ...inline };
    }
    const data = blobs.get(a.blobId!);
    // One answer for another account's upload and for an id never issued (uploads.ts).
    if (!data) {
      throw new AppError(422, "validation_failed", `attachment ${i}: no such blob`, [
        { path: `attachments.${i}.blobId`, message: "no such blob" },
      ]);
    }
    return { filename, contentType: a.contentType ?? OCTETS, content: data, ...inline };
  });
}

/** Sends one message; `key` makes it idempotent. */
export async function sendEmail(
  deps: Deps,
  auth: AuthContext,
  req: TxSendRequest,
  key?: IdempotencyKey,
  shared?: BatchShared,
): Promise<SendResult> {
  const now = deps.clock.now();
  if (key) {
    try {
      await checkKey(deps.store.db, auth.accountId, key, now);
    } catch (e) {
      if (e instanceof IdempotentReplay) {
        return { status: e.status, body: e.body as TxSendResponse, replayed: true };
      }
      throw e;
    }
  }
  const from = named(req.from);
  const fromDomain = domainOf(from.address);
  let content = { subject: req.subject, text: req.text, html: req.html };
  if (req.template) {
    const t = await getTemplate(
      deps.store.db,
      auth.accountId,
      req.template.name,
      req.template.version,
    );
    const r = renderTemplate(t, req.variables);
    content = {
      subject: req.subject || r.subject,
      text: req.text ?? r.text,
      html: req.html ?? r.html,
    };
  }
  const sendAt = req.sendAt ? Date.parse(req.sendAt) : undefined;
  const scheduled = sendAt !== undefined && sendAt > now;

  // Suppressed recipients are dropped before anything is composed (checked before every send).
  const all = [...req.to, ...req.cc, ...req.bcc].map((r) => named(r).address);
  const batchSuppressed = shared?.suppressed.get(fromDomain);
  const suppressed = batchSuppressed
    ? await batchSuppressed
    : await suppressedAmong(deps.store.db, fromDomain, all);
  const keep = (list: typeof req.to) =>
    list.filter((r) => !suppressed.has(named(r).address.toLowerCase()));
  const to = keep(req.to), cc = keep(req.cc), bcc = keep(req.bcc);
  if (to.length + cc.length + bcc.length === 0) {
    throw new AppError(
      422,
      "recipients_suppressed",
      "every recipient is on the suppression list of " + fromDomain,
      all.map((a, i) => ({ path: `to.${i}`, message: `${a} is suppressed` })),
    );
  }
  const remaining = [...to, ...cc, ...bcc].map((r) => named(r).address);
  if (scheduled) {
    for (const address of remaining) {
      if (await findDomain(deps.store.db, domainOf(address))) {
        throw new AppError(422, "validation_failed", "sendAt is for remote recipients only", [
          { path: "sendAt", message: `${address} is local: it is delivered at once` },
        ]);
      }
    }
  }
  if (req.unsubscribe && remaining.length !== 1) {
    throw new AppError(422, "validation_failed", "unsubscribe needs exactly one recipient", [
      { path: "unsubscribe", message: "one recipient per message (use the batch API)" },
    ]);
  }

  const emailId = newEmailId();
  const single = remaining.length === 1 ? remaining[0] : undefined;
  let tracking: TrackingChoice;
  if (shared) {
    let base = shared.tracking.get(fromDomain);
    if (!base) shared.tracking.set(fromDomain, base = trackingFor(deps.store.db, fromDomain, {}));
    const d = await base;
    tracking = {
      opens: req.tracking.opens ?? d.opens,
      clicks: req.tracking.clicks ?? d.clicks,
      verp: d.verp,
    };
  } else tracking = await trackingFor(deps.store.db, fromDomain, req.tracking);
  const html = content.html !== undefined && (tracking.opens || tracking.clicks)
    ? await applyTracking(deps, content.html, emailId, single, tracking)
    : content.html;
  const headers: Record<string, string> = { ...req.headers, "X-Postern-Email-Id": emailId };
  if (req.unsubscribe && single) {
    Object.assign(headers, await unsubscribeHeaders(deps, emailId, single));
  }
  const base: SendInput = {
    from: req.from,
    to,
    cc,
    bcc,
    replyTo: req.replyTo,
    subject: content.subject,
    text: content.text,
    html,
    attachments: await resolveAttachments(deps, auth.accountId, req),
    headers,
    inReplyTo: req.inReplyTo,
    references: req.references,
  };

  if (auth.testMode) {
    // A test key: the checks above and sendMessage's, then a record; nothing leaves.
    return await recordTestSend(deps, auth, base, {
      emailId,
      request: req,
      subject: content.subject,
      sendAt: scheduled ? sendAt : undefined,
      suppressed: all.filter((a) => suppressed.has(a.toLowerCase())),
      key,
    });
  }
  let body: TxSendResponse | undefined;
  // Read before the write job: its steps after the send only write (recordStatements).
  const hooks = shared
    ? await (shared.hooks ??= activeWebhooks(deps.store.db, auth.accountId))
    : await activeWebhooks(deps.store.db, auth.accountId);
  try {
    const sent = await sendMessage(deps, auth, base, {
      sentCopy: req.storeSent ?? auth.kind !== "api_key",
      envelopeFrom: tracking.verp ? await verpAddress(deps, emailId, fromDomain) : undefined,
      notBefore: scheduled ? sendAt : undefined,
      job: {
        first: key ? claimKeyStatements(deps, auth.accountId, key) : [],
        last: (response, refs) =>
          recordStatements(async (tx) => {
            const at = deps.clock.now();
            const sql = rawSql(tx);
            // Every column is given, so the row is known without reading it back (RETURNING).
            const message: TxMessageRow = {
              id: emailId,
              accountId: auth.accountId,
              domain: fromDomain,
              fromAddress: from.address,
              subject: content.subject,
              sentRef: null, // set from SQL below: the Sent copy is stored by the same job
              messageIdHeader: response.messageId,
              tags: JSON.stringify(req.tags),
              metadata: JSON.stringify(req.metadata),
              sendAt: scheduled ? sendAt : null,
              state: scheduled ? "scheduled" : "accepted",
              template: req.template ? req.template.name : null,
              createdAt: at,
            };
            if (refs.sentId) {
              // The Sent copy's id, stored by an earlier step of the job, in the row's insert.
              await sql.run(txMessageWithSentSql(refs.sentId.sql), [
                message.id,
                message.accountId,
                message.domain,
                message.fromAddress,
                message.subject,
                ...refs.sentId.args,
                message.messageIdHeader,
                message.tags,
                message.metadata,
                message.sendAt,
                message.state,
                message.template,
                message.createdAt,
              ]);
            } else await txMessagesSql.insert(sql, message);
            const recipients = response.recipients.map((r) =>
              r.status === "queued" && scheduled ? { ...r, status: "scheduled" as const } : r
            );
            const dropped = all.filter((a) => suppressed.has(a.toLowerCase()));
            recipients.push(
              ...dropped.map((address) => ({ address, status: "suppressed" as const })),
            );
            // Appended (inserted at the commit): the events below carry their status already
            // (`statusWritten`), so nothing in this transaction updates these rows.
            for (const r of recipients) {
              appendLater(tx, txRecipientsSql, {
                messageId: emailId,
                address: r.address.toLowerCase(),
                status: r.status === "rejected" ? "failed" : r.status,
                outboxId: null, // set below, from the outbox rows of the same job
                updatedAt: at,
              }, { ignoreConflicts: true });
            }
            for (const r of recipients) {
              await recordEvent(tx, deps, {
                message,
                recipient: r.address,
                type: r.status === "scheduled" || r.status === "suppressed" ? r.status : "queued",
                data: scheduled ? { sendAt: new Date(sendAt!).toISOString() } : {},
                at,
                statusWritten: true,
              }, hooks);
              if (r.status === "delivered") {
                // Local delivery: the message left the queue and arrived in one step.
                await recordEvent(tx, deps, {
                  message,
                  recipient: r.address,
                  type: "sent",
                  data: { route: "local" },
                  at,
                  statusWritten: true,
                }, hooks);
              }
              if (r.status === "delivered" || r.status === "rejected") {
                await recordEvent(tx, deps, {
                  message,
                  recipient: r.address,
                  type: r.status === "delivered" ? "delivered" : "failed",
                  data: r.status === "delivered"
                    ? { local: true }
                    : { reason: r.reason, code: r.code },
                  at,
                  statusWritten: true,
                }, hooks);
              }
            }
            body = {
              id: response.id,
              emailId,
              messageId: response.messageId,
              sendAt: scheduled ? new Date(sendAt!).toISOString() : null,
              recipients,
            };
          }).then((steps) => [
            ...steps,
            // Each remote recipient's outbox row, queued by this job: the account's rows of this
            // millisecond (index outbox_account) with this message's blob. None queued (local
            // recipients only): no outbox row to name.
            ...(response.recipients.some((r) => r.status === "queued")
              ? [{
                sql: `UPDATE tx_recipients SET outbox_id = (SELECT max(o.id) FROM outbox o
              WHERE o.account_id = ? AND o.created_at = ? AND o.blob_sha256 = ?
                AND lower(o.rcpt_to) = address)
            WHERE message_id = ?`,
                args: [auth.accountId, refs.queuedAt, refs.blobSha256, emailId],
              }]
              : []),
            ...(key ? [claimedResponse(auth.accountId, key, 201, body, refs.sentId)] : []),
          ]),
      },
    }).catch((e) =>
      key
        ? replayAfterConflict(deps.store.db, auth.accountId, key, deps.clock.now(), e)
        : Promise.reject(e)
    );
    body!.id = sent.id;
  } catch (e) {
    if (e instanceof IdempotentReplay) {
      return { status: e.status, body: e.body as TxSendResponse, replayed: true };
    }
    throw e;
  }
  return { status: 201, body: body!, replayed: false };
}

const BATCH_CONCURRENCY = 32;

/** Most addresses one suppression query asks about (well under SQLite's variable limit). */
const SUPPRESSION_CHUNK = 500;

/**
 * The suppression check of a whole batch, one query per sending domain (and per 500 addresses)
 * instead of one per message. Items whose From does not parse are left to `sendEmail`'s own
 * check, which refuses them.
 */
function suppressionsOf(deps: Deps, items: TxSendRequest[]): Map<string, Promise<Set<string>>> {
  const byDomain = new Map<string, Set<string>>();
  for (const item of items) {
    let domain: string, recipients: string[];
    try {
      domain = domainOf(named(item.from).address);
      recipients = [...item.to, ...item.cc, ...item.bcc].map((r) => named(r).address);
    } catch {
      continue;
    }
    let addresses = byDomain.get(domain);
    if (!addresses) byDomain.set(domain, addresses = new Set());
    for (const address of recipients) addresses.add(address);
  }
  const out = new Map<string, Promise<Set<string>>>();
  for (const [domain, addresses] of byDomain) {
    const list = [...addresses];
    const chunks: Promise<Set<string>>[] = [];
    for (let i = 0; i < list.length; i += SUPPRESSION_CHUNK) {
      chunks.push(suppressedAmong(deps.store.db, domain, list.slice(i, i + SUPPRESSION_CHUNK)));
    }
    const all = Promise.all(chunks).then((sets) => new Set(sets.flatMap((x) => [...x])));
    all.catch(() => {}); // awaited by the items; none may be left to (all replayed, say)
    out.set(domain, all);
  }
  return out;
}

/** Up to 500 messages, each sent (or refused) on its own; the key covers each item. */
export async function sendBatch(
  deps: Deps,
  auth: AuthContext,
  items: TxSendRequest[],
  key?: string,
): Promise<{ status: number; body: BatchResponse; replayed: boolean }> {
  const batchKey = key ? await idempotencyKey(key, "batch", items) : undefined;
  if (batchKey) {
    try {
      await checkKey(deps.store.db, auth.accountId, batchKey, deps.clock.now());
    } catch (e) {
      if (e instanceof IdempotentReplay) {
        return { status: e.status, body: e.body as BatchResponse, replayed: true };
      }
      throw e;
    }
  }
  const results: BatchResponse["results"] = new Array(items.length);
  const shared: BatchShared = { tracking: new Map(), suppressed: suppressionsOf(deps, items) };
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        const itemKey = key
          ? await idempotencyKey(`${key}#${index}`, "batch-item", items[index])
          : undefined;
        const sent = await sendEmail(deps, auth, items[index], itemKey, shared);
        results[index] = { index, status: sent.status, email: sent.body };
      } catch (e) {
        if (!(e instanceof AppError) || e.status >= 500) throw e;
        results[index] = { index, status: e.status, error: { code: e.code, detail: e.message } };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, items.length) }, worker));
  const accepted = results.filter((r) => r.status === 201).length;
  const body: BatchResponse = { accepted, refused: items.length - accepted, results };
  if (batchKey) {
    // One write job (one statement, one round trip), as every write job (DESIGN.md).
    await deps.store.batch(
      await recordStatements((tx) => recordKey(tx, deps, auth.accountId, batchKey, 200, body)),
    );
  }
  return { status: 200, body, replayed: false };
}

/**
 * Messages Sieve sends on its own at delivery — vacation replies (RFC 5230) and the DSN of a
 * reject that no session can say (RFC 5429 section 2.1) — queued in the outbox with a null
 * envelope sender (RFC 3834 section 3.1.6, RFC 3464), or stored straight into the Inbox of a
 * sender of our own domains, as statements of the delivery's one write job. A vacation reply is queued only when its upsert of the reply log wins: the log row for
 * (account, handle, sender) is written only if none is younger than `:days`, and the outbox
 * row follows in SQL only if that write happened (`changes()`), so two processes delivering two
 * messages of one sender at once answer once (RFC 5230 section 4.2).
 */
import { parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import { sha256Hex } from "../crypto.ts";
import type { Queryable, Statement } from "../store/store.ts";
import { rawSql } from "../store/store.ts";
import { BLOB_UNUSED, ownedBlobStatements } from "./blob_chunks.ts";
import { resolveRecipient } from "./delivery.ts";
import { deliveryKeyFor, sealedStoreJob } from "./message_store.ts";

const DAY_MS = 86_400_000;

export interface QueuedReply {
  accountId: number;
  raw: Uint8Array;
  to: string;
  messageId: string;
  now: number;
}

/**
 * The blob, (the guard,) the outbox row and its event, then the blob's removal if nothing
 * took it. `guard`, when given, is the statement whose `changes()` decides the outbox row.
 */
async function queueStatements(
  deps: Deps,
  db: Queryable,
  reply: QueuedReply,
  guard?: Statement,
): Promise<Statement[]> {
  const rcpt = parseAddress(reply.to);
  if (!rcpt.ok) return [];
  const sha = await sha256Hex(reply.raw);
  // A sender of our own domains gets the reply in their Inbox: the outbox is for other domains.
  const targets = await resolveRecipient(db, rcpt.value.address);
  if (targets !== undefined) return await localStatements(deps, db, reply, sha, targets, guard);
  const expiresAt = reply.now + deps.config.outboxExpiryHours * 3_600_000;
  return [
    ...await ownedBlobStatements(deps.store, reply.accountId, reply.raw, sha),
    ...(guard ? [guard] : []),
    {
      sql: `INSERT INTO outbox (account_id, blob_sha256, message_ref, message_id_header, mail_from,
          rcpt_to, domain, state, next_attempt_at, expires_at, created_at, updated_at)
        SELECT ?, ?, NULL, ?, '', ?, ?, 'queued', ?, ?, ?, ? WHERE ${
        guard ? "changes() = 1" : "1"
      }`,
      args: [
        reply.accountId,
        sha,
        reply.messageId,
        rcpt.value.address,
        rcpt.value.domain,
        reply.now,
        expiresAt,
        reply.now,
        reply.now,
      ],
    },
    {
      // Names the row by last_insert_rowid() only when it is this reply's (the insert may not
      // have happened).
      sql: `INSERT INTO events (account_id, type, message_id, data)
        SELECT account_id, 'outbox.queued', message_ref,
          json_object('outboxId', id, 'recipient', rcpt_to)
        FROM outbox WHERE id = last_insert_rowid() AND blob_sha256 = ? AND rcpt_to = ?`,
      args: [sha, rcpt.value.address],
    },
    { sql: `DELETE FROM blobs WHERE sha256 = ? AND ${BLOB_UNUSED}`, args: [sha] },
  ];
}

/**
 * The reply stored straight into the Inbox of each local account the address reaches (their
 * own rules do not run on it). The guard only records the answer here: the read before it
 * decided, and a store job cannot be made conditional on it.
 */
async function localStatements(
  deps: Deps,
  db: Queryable,
  reply: QueuedReply,
  sha: string,
  targets: Awaited<ReturnType<typeof resolveRecipient>> & object,
  guard?: Statement,
): Promise<Statement[]> {
  const accounts = targets.flatMap((t) => t.kind === "account" ? [t.accountId] : []);
  if (accounts.length === 0) return [];
  const parsed = await deps.mime.parse(reply.raw);
  const statements: Statement[] = [
    ...await ownedBlobStatements(deps.store, reply.accountId, reply.raw, sha),
    ...(guard ? [guard] : []),
  ];
  for (const accountId of new Set(accounts)) {
    const inbox = await rawSql(db).get<{ id: number }>(
      "SELECT id FROM mailboxes WHERE account_id = ? AND role = 'inbox'",
      [accountId],
    );
    if (!inbox) continue;
    statements.push(
      ...(await sealedStoreJob(deps.store, {
        accountId,
        mailboxId: Number(inbox.id),
        blobSha256: sha,
        size: reply.raw.byteLength,
        parsed,
        internalDate: reply.now,
        deliveryKey: await deliveryKeyFor(reply.messageId, sha),
        quotaGuard: true,
      })).statements,
    );
  }
  statements.push({ sql: `DELETE FROM blobs WHERE sha256 = ? AND ${BLOB_UNUSED}`, args: [sha] });
  return statements;
}

/** A reject's DSN to the envelope sender: always sent. */
export async function dsnStatements(
  deps: Deps,
  db: Queryable,
  reply: QueuedReply,
): Promise<Statement[]> {
  return await queueStatements(deps, db, reply);
}

export interface VacationSend extends QueuedReply {
  handle: string;
  days: number;
}

/**
 * The vacation reply, unless this sender was answered under this handle within `days` (read
 * first, so a known answer costs no blob; then held again in SQL by the guard).
 */
export async function vacationStatements(
  deps: Deps,
  db: Queryable,
  v: VacationSend,
): Promise<{ statements: Statement[]; skipped: boolean }> {
  const sender = v.to.toLowerCase();
  const cutoff = v.now - v.days * DAY_MS;
  const last = await rawSql(db).get<{ sent_at: number }>(
    "SELECT sent_at FROM sieve_vacation_replies WHERE account_id = ? AND handle = ? AND sender = ?",
    [v.accountId, v.handle, sender],
  );
  if (last && Number(last.sent_at) > cutoff) return { statements: [], skipped: true };
  const guard: Statement = {
    sql: `INSERT INTO sieve_vacation_replies (account_id, handle, sender, sent_at)
      VALUES (?, ?, ?, ?) ON CONFLICT (account_id, handle, sender)
      DO UPDATE SET sent_at = excluded.sent_at WHERE sent_at <= ?`,
    args: [v.accountId, v.handle, sender, v.now, cutoff],
  };
  return { statements: await queueStatements(deps, db, v, guard), skipped: false };
}

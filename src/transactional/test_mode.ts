/**
 * Test mode, as Stripe's test keys and Postmark's test server token offer it: a send made with a
 * test API key (`pst_test_…`, auth/api_keys.ts) goes through every check a live send makes —
 * sender allowed, suppression, template, attachments, local recipients, SHARP, composition and
 * size (services/send.ts `checkedMessage`) — and answers like one, but it is only recorded: a
 * `tx_messages` row in state `test` and its recipients in status `test`, written in one batch
 * (one round trip). Nothing is delivered locally, copied to Sent, queued in the outbox, tracked
 * or posted to a webhook, so an application's test suite can run against the real server
 * without mailing anyone. The SMTP relay does the same for a test key (`recordTestSubmission`).
 */
import { domainOf } from "../../schemas/address.ts";
import type { TxSendRequest, TxSendResponse } from "../../schemas/tx_send.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import type { RecipientResult } from "../services/delivery.ts";
import { checkedMessage, named, type SendInput } from "../services/send.ts";
import { rawSql, recordStatements, schema, type Statement } from "../store/store.ts";
import { tableSql } from "../store/table_sql.ts";
import {
  claimedResponse,
  claimKeyStatements,
  type IdempotencyKey,
  IdempotentReplay,
  replayAfterConflict,
} from "./idempotency.ts";
import { newEmailId } from "./signing.ts";
import type { TxMessageRow } from "./timeline.ts";

const txMessagesSql = tableSql(schema.txMessages);
const txRecipientsSql = tableSql(schema.txRecipients);

/** What a test send records beyond the composed message. */
export interface TestSend {
  emailId: string;
  request: TxSendRequest;
  /** The rendered subject (a template's, when the request gave none). */
  subject: string;
  /** When `sendAt` is in the future: recorded, as a live send would schedule it. */
  sendAt?: number;
  /** Recipients the suppression list dropped: answered `suppressed`, as live. */
  suppressed: string[];
  key?: IdempotencyKey;
}

/** The statements that record a test message and its recipients. */
function recordSteps(
  message: TxMessageRow,
  recipients: { address: string; status: string }[],
): Promise<Statement[]> {
  return recordStatements(async (tx) => {
    const sql = rawSql(tx);
    await txMessagesSql.insert(sql, message);
    for (const r of recipients) {
      await txRecipientsSql.insert(sql, {
        messageId: message.id,
        address: r.address.toLowerCase(),
        status: r.status,
        outboxId: null,
        updatedAt: message.createdAt,
      }, { ignoreConflicts: true });
    }
  });
}

/**
 * A transactional send with a test key (called by `sendEmail` once its own checks passed, with
 * the request it would hand to `sendMessage`): checked like a live send, recorded, never sent.
 */
export async function recordTestSend(
  deps: Deps,
  auth: AuthContext,
  base: SendInput,
  test: TestSend,
): Promise<{ status: number; body: TxSendResponse; replayed: boolean }> {
  const { remote, local, messageId } = await checkedMessage(deps, auth, base);
  const from = named(base.from).address;
  const at = deps.clock.now();
  const recipients = [
    ...[...local, ...remote].map((address) => ({ address, status: "test" as const })),
    ...test.suppressed.map((address) => ({ address, status: "suppressed" as const })),
  ];
  const body: TxSendResponse = {
    id: null,
    emailId: test.emailId,
    messageId,
    sendAt: test.sendAt === undefined ? null : new Date(test.sendAt).toISOString(),
    recipients,
  };
  const message: TxMessageRow = {
    id: test.emailId,
    accountId: auth.accountId,
    domain: domainOf(from),
    fromAddress: from,
    subject: test.subject,
    sentRef: null,
    messageIdHeader: messageId,
    tags: JSON.stringify(test.request.tags),
    metadata: JSON.stringify(test.request.metadata),
    sendAt: test.sendAt ?? null,
    state: "test",
    template: test.request.template?.name ?? null,
    createdAt: at,
  };
  const { key } = test;
  const statements = [
    ...key ? claimKeyStatements(deps, auth.accountId, key) : [],
    ...await recordSteps(message, recipients),
    ...key ? [claimedResponse(auth.accountId, key, 201, body)] : [],
  ];
  try {
    await runRecord(deps, auth, statements, key);
  } catch (e) {
    if (e instanceof IdempotentReplay) {
      return { status: e.status, body: e.body as TxSendResponse, replayed: true };
    }
    throw e;
  }
  deps.logger.log("info", "send.test", {
    accountId: auth.accountId,
    emailId: test.emailId,
    recipients: recipients.length,
  });
  return { status: 201, body, replayed: false };
}

/** Runs a test send's statements; with a key, a concurrent twin's answer wins (replayed). */
async function runRecord(
  deps: Deps,
  auth: AuthContext,
  statements: Statement[],
  key?: IdempotencyKey,
): Promise<void> {
  await deps.store.batch(statements).catch((e) =>
    key
      ? replayAfterConflict(deps.store.db, auth.accountId, key, deps.clock.now(), e)
      : Promise.reject(e)
  );
}

/**
 * A message submitted over SMTP with a test key, after the submission's own checks: recorded
 * as a test message (its envelope recipients in status `test`); the client gets its 250s. An
 * `Idempotency-Key` field is honoured as live (IdempotentReplay when it was seen).
 */
export async function recordTestSubmission(
  deps: Deps,
  auth: AuthContext,
  message: { from: string; subject: string; messageId: string; recipients: string[] },
  key?: IdempotencyKey,
): Promise<RecipientResult[]> {
  const emailId = newEmailId();
  const row: TxMessageRow = {
    id: emailId,
    accountId: auth.accountId,
    domain: domainOf(message.from),
    fromAddress: message.from,
    subject: message.subject,
    sentRef: null,
    messageIdHeader: message.messageId,
    tags: "[]",
    metadata: "{}",
    sendAt: null,
    state: "test",
    template: null,
    createdAt: deps.clock.now(),
  };
  const recipients = message.recipients.map((address) => ({ address, status: "test" }));
  // `forwarded`: accepted for recipients this server does not store it for (here: nobody).
  const results = message.recipients.map((recipient) => ({
    recipient,
    status: "forwarded" as const,
  }));
  await runRecord(deps, auth, [
    ...key ? claimKeyStatements(deps, auth.accountId, key) : [],
    ...await recordSteps(row, recipients),
    ...key ? [claimedResponse(auth.accountId, key, 200, results)] : [],
  ], key);
  deps.logger.log("info", "send.test", {
    accountId: auth.accountId,
    emailId,
    recipients: recipients.length,
  });
  return results;
}

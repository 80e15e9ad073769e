/**
 * The outbox's delivery side, used by transports that run outside the gateway (the bridge's SMTP
 * worker): leased claims, results, retries and bounces.
 *
 * - Claim: due rows (queued or deferred and due, or `sending` with a lapsed lease) are leased to
 *   one worker by one UPDATE … RETURNING in a one-round-trip write job, so two workers (of any
 *   process) never get the same recipient. Rows past their expiry are bounced instead.
 * - Results: sent → `sent`; deferred → `deferred` with exponential backoff and ±20 % jitter
 *   (RFC 5321 section 4.5.4.1 asks for growing retry intervals), until the expiry; failed (5xx)
 *   or expired → an RFC 3464 DSN delivered to the sender through the inbound pipeline, in the
 *   same write job as the state change (state `bounced`), or `failed` when no DSN can go
 *   out (null sender, or a sender that is not served here). A bounce is never bounced: its
 *   envelope sender is empty. Only a failure about the recipient's mailbox (a 5.1.1 at RCPT,
 *   not a 500 to DATA: transactional/bounce_class.ts) also suppresses the address.
 * Only the worker holding a row's lease may report on it (409 otherwise): every result is one
 * write job (reads first) whose UPDATE re-checks the lease in SQL.
 */
import { eq } from "drizzle-orm";
import { parseAddress } from "../../schemas/address.ts";
import type { OutboxGroup, OutboxResultRequest } from "../../schemas/bridge_outbox.ts";
import type { Deps } from "../deps.ts";
import { AppError, conflict, notFound } from "../errors.ts";
import { randomToken } from "../crypto.ts";
import { buildDsn, type DsnRecipient, statusFor } from "../mime/dsn.ts";
import type { InValue } from "@libsql/client/web";
import type { Statement } from "../store/store.ts";
import { assertStep, isFailedAssertion, rawSql, schema } from "../store/store.ts";
import { retryStale, StaleReads } from "../store/optimistic.ts";
import { tableSql } from "../store/table_sql.ts";
import { findDomain } from "./accounts.ts";
import { deliveryJob, type PreparedDelivery, prepareDelivery } from "./delivery.ts";
import type { OutboxRow } from "./outbox.ts";
import {
  claimedEventStatements,
  isVerpSender,
  outboxEventStatements,
} from "../transactional/outbox_events.ts";
import { classifyBounce, type DeliveryFailure } from "../transactional/bounce_class.ts";
import { type OutboxRoute, routeCondition } from "../federation/routing.ts";
import { blobBytes, firstPart } from "./blob_chunks.ts";
import { IN_JSON, jsonList } from "../store/in_list.ts";
import { claimedSeals, claimedSealsStatement } from "../forwarding/seal_claim.ts";
import { tlsCountStatement } from "../reports/tls_record.ts";

const MINUTE = 60_000;
const BACKOFF_BASE_MS = MINUTE;
const BACKOFF_CAP_MS = 60 * MINUTE;

/**
 * The wait before attempt `attempts + 1`, given `attempts` made so far (≥ 1): 1 min · 2^(n−1),
 * at most an hour, then ±20 % jitter so that a destination's deferred rows do not return in
 * lockstep.
 */
export function backoffMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Claimed rows come back from the claim's RETURNING (store/table_sql.ts maps them). */
const outboxSql = tableSql(schema.outbox);

/**
 * The claim's one statement, as fixed SQL text (query building per claim cost about 8% of the
 * sending gateway's main thread under federation load): picks and leases, in one UPDATE, the rows
 * claimable now — due and unleased, or leased by a worker whose lease has lapsed — and not yet
 * expired, oldest due first. `routed` is routing.ts's condition on the rows' domains.
 */
function claimSql(routed: string | undefined): string {
  return `UPDATE outbox SET state = 'sending', lease_owner = ?1, lease_until = ?2, updated_at = ?3
    WHERE id IN (SELECT id FROM outbox
      WHERE ((state IN ('queued', 'deferred') AND next_attempt_at <= ?3
          AND (lease_until IS NULL OR lease_until < ?3))
        OR (state = 'sending' AND lease_until < ?3))
        AND expires_at > ?3${routed === undefined ? "" : ` AND (${routed})`}
      ORDER BY next_attempt_at, id LIMIT ?4)
    RETURNING ${outboxSql.columns}`;
}

export interface ClaimInput {
  worker: string;
  limit: number;
  leaseSeconds: number;
  /** Which transport claims (src/federation/routing.ts); the bridge by default. */
  route?: OutboxRoute;
}

export interface ClaimResult {
  leaseUntil: number;
  groups: OutboxGroup[];
}

export async function claimOutbox(deps: Deps, input: ClaimInput): Promise<ClaimResult> {
  const now = deps.clock.now();
  await expireOverdue(deps, now, input.limit);
  const leaseUntil = now + input.leaseSeconds * 1000;
  const routed = await routeCondition(deps, input.route ?? "bridge", now);
  const claimed = {
    sql: "o.state = 'sending' AND o.lease_owner = ? AND o.lease_until = ? AND o.updated_at = ?",
    args: [input.worker, leaseUntil, now],
  };
  // One write job: the claim picks and leases the due rows in one statement (so N senders never
  // take the same row), then the first hand-overs' `sent` events follow from it in SQL.
  const results = await deps.store.batch([
    { sql: claimSql(routed), args: [input.worker, leaseUntil, now, input.limit] },
    ...claimedEventStatements(deps, claimed, input.route ?? "bridge"),
    // issue21#3: the ARC seal requests of forwarded rows ride along (forwarding/seal_claim.ts).
    claimedSealsStatement(claimed),
  ]);
  const rows = results[0].rows.map((r) => outboxSql.fromRow(r as Record<string, unknown>));
  const seals = claimedSeals(results.at(-1));
  const sizes = new Map<string, number>();
  const shas = [...new Set(rows.map((r) => r.blobSha256))];
  if (shas.length > 0) {
    const blobs = await rawSql(deps.store.db).all<{ sha256: string; size: number }>(
      `SELECT sha256, size FROM blobs WHERE sha256 IN ${IN_JSON}`,
      [jsonList(shas)],
    );
    for (const b of blobs) sizes.set(b.sha256, b.size);
  }
  const groups = new Map<string, OutboxGroup>();
  for (const row of rows.sort((a, b) => a.id - b.id)) {
    const group = groups.get(row.domain) ?? { domain: row.domain, items: [] };
    group.items.push({
      id: row.id,
      mailFrom: row.mailFrom,
      rcptTo: row.rcptTo,
      domain: row.domain,
      attempts: row.attempts,
      blobSha256: row.blobSha256,
      size: sizes.get(row.blobSha256) ?? 0,
      messageId: row.messageIdHeader,
      expiresAt: iso(row.expiresAt),
      ...(seals.has(row.id) ? { arc: seals.get(row.id) } : {}),
    });
    groups.set(row.domain, group);
  }
  if (rows.length > 0) {
    deps.logger.log("info", "outbox.claimed", { worker: input.worker, rows: rows.length });
  }
  return { leaseUntil, groups: [...groups.values()] };
}

/** `idle` as a job's re-check of a row it read (`Permanent.stillOurs`). */
const idleSql = (now: number): RowCheck => ({
  sql: `state IN ('queued', 'deferred', 'sending') AND (lease_until IS NULL OR lease_until < ?)`,
  args: [now],
});

/** Held by `worker`: the re-check of every result it reports. */
export const heldSql = (worker: string): RowCheck => ({
  sql: "state = 'sending' AND lease_owner = ?",
  args: [worker],
});

/** A condition on an outbox row (SQL over its columns) that a write job re-checks. */
export interface RowCheck {
  sql: string;
  args: InValue[];
}

/**
 * A result's write job: the row's UPDATE (`set`, SQL with `args`) guarded by `check`, an assert
 * that it happened (else the whole job is undone), then `then`. Answers the updated row, or
 * undefined when an assertion of the job failed (the check, or one of `then`'s).
 */
async function finishJob(
  deps: Deps,
  id: number,
  set: { sql: string; args: InValue[] },
  check: RowCheck,
  then: Statement[],
): Promise<OutboxRow | undefined> {
  try {
    const [updated] = await deps.store.batch([
      {
        sql: `UPDATE outbox SET ${set.sql} WHERE id = ? AND ${check.sql}
          RETURNING ${outboxSql.columns}`,
        args: [...set.args, id, ...check.args],
      },
      assertStep("changes() = 1"),
      ...then,
    ]);
    return outboxSql.fromRow(updated.rows[0] as Record<string, unknown>);
  } catch (e) {
    if (isFailedAssertion(e)) return undefined;
    throw e;
  }
}

/** The `events` row of an outbox change, from the row itself (in the same job). */
export const outboxEventRow = (
  id: number,
  type: string,
  data: Record<string, unknown>,
): Statement => ({
  sql: `INSERT INTO events (account_id, type, message_id, data)
    SELECT account_id, ?, message_ref, json_patch(json_object('outboxId', id, 'recipient', rcpt_to), ?)
    FROM outbox WHERE id = ?`,
  args: [type, JSON.stringify(data), id],
});

/**
 * How often, at most, a claim looks for expired rows (by the deps clock). The look is a scan of
 * every waiting row (no index has `expires_at`), and a claim comes with every wake-up of a
 * worker, after each send: with thousands of rows queued it was the largest part of a send's
 * CPU that was not the send's own (issue 20 (t)). Claims never hand out an expired row
 * (`claimSql`) and a deferral past the expiry bounces (`recordResult`), so the sweep only
 * decides when an expired row's bounce goes out: within a minute of its hours-long expiry.
 */
const EXPIRY_SWEEP_MS = 60_000;

/** When each store's last sweep found no more expired rows than it bounced. */
const lastSweep = new WeakMap<object, number>();

/** Bounces idle rows whose expiry has passed (up to `limit` per call), retry time or not. */
async function expireOverdue(deps: Deps, now: number, limit: number): Promise<void> {
  const last = lastSweep.get(deps.store);
  if (last !== undefined && last <= now && now - last < EXPIRY_SWEEP_MS) return;
  // Idle (not held by any worker: waiting, or leased by one whose lease has lapsed) and expired.
  const overdue = (await rawSql(deps.store.db).all<Record<string, unknown>>(
    `SELECT ${outboxSql.columns} FROM outbox WHERE ${idleSql(0).sql} AND expires_at <= ? LIMIT ?`,
    [now, now, limit],
  )).map((r) => outboxSql.fromRow(r));
  for (const row of overdue) {
    const last = row.lastError ?? "the message could not be delivered before it expired";
    try {
      await finishPermanently(deps, row, {
        status: "4.4.7",
        diagnostic: last,
        diagnosticType: /^\d{3}\b/.test(last) ? "smtp" : "X-Postern",
        now,
        // Still idle when the job runs: no other claim bounced or took it meanwhile.
        stillOurs: idleSql(now),
      });
    } catch (e) {
      if (!(e instanceof AppError && e.status === 409)) throw e;
    }
  }
  // A full page may have left more behind: the next claim looks again.
  if (overdue.length < limit) lastSweep.set(deps.store, now);
  else lastSweep.delete(deps.store);
}

async function heldRow(db: Deps["store"]["db"], id: number, worker: string) {
  const [row] = await db.select().from(schema.outbox).where(eq(schema.outbox.id, id));
  if (!row) throw notFound("outbox entry");
  if (row.state !== "sending" || row.leaseOwner !== worker) {
    throw conflict(`outbox entry ${id} is not leased to ${worker}`);
  }
  return row;
}

/** The message bytes of a row the worker holds. */
export async function readLeasedRaw(deps: Deps, id: number, worker: string): Promise<Uint8Array> {
  const row = await heldRow(deps.store.db, id, worker);
  const [blob] = await deps.store.db.select().from(schema.blobs).where(
    eq(schema.blobs.sha256, row.blobSha256),
  );
  if (!blob) throw new AppError(500, "internal", `the message of outbox entry ${id} is missing`);
  return await blobBytes(deps.store.db, blob);
}

export interface ResultOutcome {
  row: OutboxRow;
  bounced: boolean;
}

/**
 * Records a worker's result for one row it holds. `also`: statements for the same write job
 * when the row is sent (the federation worker's signed receipt goes in with its result). A
 * TLS outcome (`result.tls`) is counted in the job of a sent or deferred result.
 */
export async function recordResult(
  deps: Deps,
  id: number,
  result: OutboxResultRequest,
  also: Statement[] = [],
): Promise<ResultOutcome> {
  const now = deps.clock.now();
  const row = await heldRow(deps.store.db, id, result.worker);
  const reply = [result.smtpCode, result.enhanced].filter(Boolean).join(" ");
  const text = reply && !result.message.startsWith(reply)
    ? `${reply} ${result.message}`
    : result.message;

  const lost = () => conflict(`outbox entry ${id} is not leased to ${result.worker}`);
  // issue21#4: the session's TLS outcome, counted for the domain's TLS report (reports/).
  const tls = tlsCountStatement(result.tls, now);
  if (tls) also = [...also, tls];
  if (result.outcome === "sent") {
    // Reads first (the row above, the timeline's), then one write job re-checking the lease.
    const data = { remoteMta: result.remoteMta, response: text.slice(0, 500) };
    const updated = await finishJob(
      deps,
      id,
      { sql: SENT_SET, args: [now] },
      heldSql(result.worker),
      [
        outboxEventRow(id, "outbox.sent", data),
        ...await outboxEventStatements(deps, row, "delivered", data),
        ...also,
      ],
    );
    if (!updated) throw lost();
    deps.logger.log("info", "outbox.sent", { id, domain: row.domain, remoteMta: result.remoteMta });
    return { row: updated, bounced: false };
  }

  const attempts = row.attempts + 1;
  if (result.outcome === "deferred" && now < row.expiresAt) {
    const next = now + backoffMs(attempts);
    const data = { attempts, nextAttemptAt: iso(next), reason: text.slice(0, 500) };
    const updated = await finishJob(
      deps,
      id,
      {
        sql: `state = 'deferred', attempts = ?, next_attempt_at = ?, lease_owner = NULL,
          lease_until = NULL, last_error = ?, updated_at = ?`,
        args: [attempts, next, text.slice(0, 1000), now],
      },
      // The attempts read are the row's still: the job's events say the right count.
      {
        sql: `${heldSql(result.worker).sql} AND attempts = ?`,
        args: [result.worker, row.attempts],
      },
      [
        outboxEventRow(id, "outbox.deferred", data),
        ...await outboxEventStatements(deps, row, "deferred", data),
        ...(tls ? [tls] : []),
      ],
    );
    if (!updated) throw lost();
    deps.logger.log("info", "outbox.deferred", { id, domain: row.domain, attempts });
    return { row: updated, bounced: false };
  }

  // 5xx, or a temporary failure past the expiry (RFC 3463 4.4.7: delivery time expired).
  const expired = result.outcome === "deferred";
  return await finishPermanently(deps, row, {
    status: expired ? "4.4.7" : statusFor(result.smtpCode, result.enhanced),
    diagnostic: text,
    diagnosticType: result.smtpCode ? "smtp" : "X-Postern",
    remoteMta: result.remoteMta,
    failure: expired ? undefined : {
      stage: result.stage,
      smtpCode: result.smtpCode,
      enhanced: result.enhanced,
      text: result.message,
    },
    countAttempt: true,
    now,
    stillOurs: heldSql(result.worker),
  });
}

/** The row's change when it is sent (one argument: the time). */
export const SENT_SET =
  `state = 'sent', attempts = attempts + 1, lease_owner = NULL, lease_until = NULL,
  last_error = NULL, updated_at = ?`;

interface Permanent {
  status: string;
  diagnostic: string;
  diagnosticType: string;
  remoteMta?: string;
  /** What the remote said and where, for the suppression decision; absent on expiry. */
  failure?: DeliveryFailure;
  countAttempt?: boolean;
  now: number;
  /** Re-checked by the write job: the row may be finished only if this still holds. */
  stillOurs: RowCheck;
}

/** Builds the DSN for a failed row when its sender is served here (else undefined). */
async function prepareBounce(
  deps: Deps,
  row: OutboxRow,
  p: Permanent,
): Promise<PreparedDelivery | undefined> {
  // Never bounce a bounce (RFC 5321 section 6.1; RFC 3464 section 2: null reverse-path).
  if (row.mailFrom === "") return undefined;
  // Sent through the send API with a signed return path: reported as an event, not a DSN.
  if (await isVerpSender(deps, row.mailFrom)) return undefined;
  const sender = parseAddress(row.mailFrom);
  if (!sender.ok || !(await findDomain(deps.store.db, sender.value.domain))) return undefined;
  const [blob] = await deps.store.db.select().from(schema.blobs).where(
    eq(schema.blobs.sha256, row.blobSha256),
  );
  const hostname = deps.config.hostname;
  const recipient: DsnRecipient = {
    finalRecipient: row.rcptTo,
    action: "failed",
    status: p.status,
    remoteMta: p.remoteMta,
    diagnostic: p.diagnostic,
    diagnosticType: p.diagnosticType,
    lastAttemptDate: p.now,
  };
  const raw = buildDsn({
    reportingMta: hostname,
    to: sender.value.address,
    messageId: `<${crypto.randomUUID()}@${hostname}>`,
    boundary: `=_postern_dsn_${randomToken(12)}`,
    date: p.now,
    arrivalDate: row.createdAt,
    recipients: [recipient],
    // The row's first part (opened when sealed); dsn.ts keeps only its header section.
    originalHeaders: blob ? await firstPart(deps.store.db, blob) : new Uint8Array(),
    originalMessageId: row.messageIdHeader ?? undefined,
  });
  return await prepareDelivery(deps, {
    raw,
    mailFrom: "",
    recipients: [sender.value.address],
    source: "smtp",
    internalDate: p.now,
  });
}

async function finishPermanently(
  deps: Deps,
  row: OutboxRow,
  p: Permanent,
): Promise<ResultOutcome> {
  const prepared = await prepareBounce(deps, row, p);
  // Only a failure about the recipient's mailbox suppresses it (bounce_class.ts); the rest fail
  // this message and say why, and the next send to the address goes out again.
  const klass = p.failure
    ? classifyBounce(p.failure)
    : { category: "transient" as const, suppress: false };
  const code = [p.failure?.smtpCode, p.failure?.enhanced].filter(Boolean).join(" ") || p.status;
  // Reads first (the DSN's delivery plan, the timeline's), then one write job: the DSN, which
  // must be stored as planned (assertStored: a quota filled meanwhile undoes the job and it is
  // planned again), and the row's end, which must still be ours (else a 409).
  const { updated, bounced, touched } = await retryStale(async () => {
    const job = prepared
      ? await deliveryJob(deps.store.db, deps, prepared, { assertStored: true })
      : undefined;
    const expected = job?.expected;
    const bounced = expected?.results.some((r) =>
      r.status === "delivered" || r.status === "duplicate"
    ) ?? false;
    const statements = [...job?.statements ?? []];
    const data = {
      status: p.status,
      reason: p.diagnostic.slice(0, 500),
      stage: p.failure?.stage,
      category: klass.category,
      suppressed: klass.suppress,
      dsn: bounced,
    };
    const updated = await finishJob(
      deps,
      row.id,
      {
        sql: `state = ?, attempts = attempts + ?, lease_owner = NULL, lease_until = NULL,
          last_error = ?, updated_at = ?`,
        args: [
          bounced ? "bounced" : "failed",
          p.countAttempt ? 1 : 0,
          p.diagnostic.slice(0, 1000),
          p.now,
        ],
      },
      p.stillOurs,
      [
        ...statements,
        outboxEventRow(row.id, "outbox.bounced", data),
        ...await outboxEventStatements(
          deps,
          row,
          "bounced",
          {
            status: p.status,
            reason: p.diagnostic.slice(0, 500),
            remoteMta: p.remoteMta,
            stage: p.failure?.stage ?? null,
            category: klass.category,
            suppressed: klass.suppress,
          },
          klass.suppress
            ? { code, stage: p.failure?.stage, detail: p.diagnostic.slice(0, 500) }
            : undefined,
        ),
      ],
    );
    if (!updated) {
      // Not ours any more: a 409. Else a DSN refused since it was planned: plan it again.
      const ours = await rawSql(deps.store.db).get(
        `SELECT 1 AS ours FROM outbox WHERE id = ? AND ${p.stillOurs.sql}`,
        [row.id, ...p.stillOurs.args],
      );
      if (!ours) throw conflict(`outbox entry ${row.id} is no longer held by this worker`);
      throw new StaleReads();
    }
    return { updated, bounced, touched: expected?.touchedAccounts ?? [] };
  });
  for (const accountId of touched) deps.bus.notify(accountId);
  deps.logger.log("info", "outbox.bounced", {
    id: row.id,
    domain: row.domain,
    status: p.status,
    category: klass.category,
    suppressed: klass.suppress,
    dsn: bounced,
  });
  return { row: updated, bounced };
}

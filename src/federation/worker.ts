/**
 * One pass of the gateway-side federation worker: lease the due outbox rows whose domains have
 * a peer (the same leases, retries, expiry and bounces as the bridge's SMTP worker), send each
 * message once per domain with all its recipients — several messages in one request to a peer
 * that advertises a batch endpoint (docs/federation.md section 6.4), each with its own envelope
 * and receipt — store each verified receipt and record every recipient's result. The entry point calls this on a timer (at the edge: a cron trigger).
 */
import type { OutboxGroup, OutboxItem, OutboxResultRequest } from "../../schemas/bridge_outbox.ts";
import type { Deps } from "../deps.ts";
import type { Statement } from "../store/store.ts";
import { rememberSha256 } from "../crypto.ts";
import { claimOutbox, recordResult } from "../services/outbox_delivery.ts";
import { readLeasedRaws, recordSentMany } from "../services/outbox_batch.ts";
import { discover, type Peer } from "./discovery.ts";
import { MAX_RECIPIENTS } from "./policy.ts";
import {
  domainOf,
  type OutgoingMessage,
  sendFederated,
  sendFederatedBatch,
  type SendOutcome,
} from "./send.ts";

export interface FederationPass {
  claimed: number;
  sent: number;
  deferred: number;
  failed: number;
}

/** Enhanced status codes (RFC 3463) for the bounce of a rejected recipient. */
function enhancedFor(code: string | undefined, temporary: boolean): string {
  if (code === "no_such_recipient") return "5.1.1";
  if (code === "relay_denied") return "5.7.1";
  if (code === "quota_exceeded") return temporary ? "4.2.2" : "5.2.2";
  if (code === "message_too_large" || code === "too_large") return "5.3.4";
  if (code === "misaligned_from") return "5.7.1";
  return temporary ? "4.0.0" : "5.0.0";
}

async function report(
  deps: Deps,
  worker: string,
  item: OutboxItem,
  result: Omit<OutboxResultRequest, "worker">,
  pass: FederationPass,
  also: Statement[] = [],
): Promise<boolean> {
  try {
    const { row } = await recordResult(deps, item.id, { worker, ...result }, also);
    if (row.state === "sent") pass.sent++;
    else if (row.state === "deferred") pass.deferred++;
    else pass.failed++;
    return true;
  } catch (e) {
    // The lease lapsed and another worker took the row: its result wins.
    deps.logger.log("warn", "federation.result_lost", { id: item.id, error: String(e) });
    return false;
  }
}

/** The message of one job's items (all one message, one sender), ready to sign. */
async function outgoing(
  deps: Deps,
  domain: string,
  items: OutboxItem[],
  raw: Uint8Array,
): Promise<OutgoingMessage> {
  const first = items[0];
  // The store keys the bytes by their SHA-256: the envelope's digest needs no second hash.
  rememberSha256(raw, first.blobSha256);
  // Parsing costs more than the rest of a send: only when the row lacks what we need.
  const parsed = first.mailFrom === "" || first.messageId === null
    ? await deps.mime.parse(raw)
    : undefined;
  // A bounce (null sender) is signed by the domain of its From header when that is ours.
  const signer = first.mailFrom === "" ? domainOf(parsed?.from?.address ?? "") : undefined;
  return {
    domain,
    mailFrom: first.mailFrom,
    recipients: items.map((i) => i.rcptTo),
    raw,
    messageId: first.messageId ?? parsed?.messageId ?? "",
    signer,
  };
}

/** A message's rows the peer accepted, with the receipt to store beside their results. */
interface Accepted {
  items: OutboxItem[];
  receipt: Statement;
}

const acceptedBy = (domain: string) => `accepted by ${domain} (signed receipt stored)`;

/**
 * Records the outcome of one message's delivery for its refused recipients' rows, and answers
 * the accepted ones (recordAccepted stores them with the receipt).
 */
async function recordOutcome(
  deps: Deps,
  worker: string,
  domain: string,
  items: OutboxItem[],
  outcome: SendOutcome,
  pass: FederationPass,
): Promise<Accepted | undefined> {
  const first = items[0];
  if (!outcome.ok) {
    for (const item of items) {
      await report(deps, worker, item, {
        outcome: outcome.temporary ? "deferred" : "failed",
        enhanced: enhancedFor(outcome.code, outcome.temporary),
        // The whole delivery was refused: about the message, never one recipient's mailbox.
        stage: "data",
        message: outcome.message.slice(0, 2000),
        remoteMta: domain,
      }, pass);
    }
    return undefined;
  }
  const receipt: Statement = {
    sql: `INSERT INTO federation_receipts (domain, blob_sha256, message_id_header, outbox_ids,
        receipt, results, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    args: [
      domain,
      first.blobSha256,
      first.messageId,
      JSON.stringify(items.map((i) => i.id)),
      outcome.receipt,
      JSON.stringify(outcome.results),
      deps.clock.now(),
    ],
  };
  const byRecipient = new Map(outcome.results.map((r) => [r.recipient, r]));
  const accepted = items.filter((i) => byRecipient.get(i.rcptTo)?.status === "accepted");
  // The receipt is stored by the write job of the accepted recipients' results (one job less
  // per message); when the peer accepted nobody, by a job of its own.
  if (accepted.length === 0) await deps.store.batch([receipt]);
  for (const item of items) {
    const r = byRecipient.get(item.rcptTo);
    if (r?.status === "accepted") continue;
    const temporary = r ? r.temporary === true : true;
    await report(deps, worker, item, {
      outcome: temporary ? "deferred" : "failed",
      enhanced: enhancedFor(r?.code, temporary),
      // The receipt's answer for this recipient, as a reply to RCPT TO would be.
      stage: r ? "rcpt" : "data",
      message: r
        ? `${domain} rejected ${item.rcptTo}: ${r.code ?? "rejected"} ${r.reason ?? ""}`.trim()
        : `${domain}'s receipt does not mention ${item.rcptTo}`,
      remoteMta: domain,
    }, pass);
  }
  return accepted.length > 0 ? { items: accepted, receipt } : undefined;
}

/**
 * Records `sent` for the accepted rows of a unit's messages, with their receipts, in one write
 * job (a batch's results: one commit, not one per message). When a row's lease was lost
 * meanwhile that job is undone, and the rows are recorded one by one instead (each receipt then
 * goes with its message's first row still held).
 */
async function recordAccepted(
  deps: Deps,
  worker: string,
  domain: string,
  list: Accepted[],
  pass: FederationPass,
): Promise<void> {
  if (list.length === 0) return;
  const entries = list.flatMap(({ items, receipt }) =>
    items.map((item, k) => ({
      id: item.id,
      remoteMta: domain,
      message: acceptedBy(domain),
      also: k === 0 ? [receipt] : [],
    }))
  );
  try {
    const rows = await recordSentMany(deps, worker, entries);
    if (rows) {
      pass.sent += rows.length;
      return;
    }
  } catch (e) {
    deps.logger.log("warn", "federation.results_job_failed", { domain, error: String(e) });
  }
  for (const { items, receipt } of list) {
    let receiptStored = false;
    for (const item of items) {
      const result = { outcome: "sent" as const, message: acceptedBy(domain), remoteMta: domain };
      receiptStored ||= await report(
        deps,
        worker,
        item,
        result,
        pass,
        receiptStored ? [] : [receipt],
      );
    }
  }
}

/** Items of one domain grouped per message (same bytes and sender), at most 100 recipients. */
function perMessage(group: OutboxGroup): OutboxItem[][] {
  const byMessage = new Map<string, OutboxItem[]>();
  for (const item of group.items) {
    const key = `${item.blobSha256}\n${item.mailFrom}`;
    const list = byMessage.get(key) ?? [];
    list.push(item);
    byMessage.set(key, list);
  }
  const out: OutboxItem[][] = [];
  for (const list of byMessage.values()) {
    for (let i = 0; i < list.length; i += MAX_RECIPIENTS) {
      out.push(list.slice(i, i + MAX_RECIPIENTS));
    }
  }
  return out;
}

/** Rough bytes one message takes in a batch request: base64 content plus its envelope. */
const batchBytesOf = (items: OutboxItem[]) => Math.ceil(items[0].size / 3) * 4 + 2048;

/**
 * One domain's messages cut into units of work: as few batches as the peer's advertised bounds
 * (section 6.4) allow when it takes them, else (and for a message too large for any batch) one
 * each. Measured against cutting a pass's messages into 2 or 4 batches in flight (so that
 * neither side waits for the other): those passes' smaller batches, and more single requests,
 * gave back the receiver's saving per message and bought no throughput on a busy machine.
 */
function units(messages: OutboxItem[][], batch?: { maxMessages: number; maxBytes: number }) {
  if (!batch) return messages.map((m) => [m]);
  const out: OutboxItem[][][] = [];
  let current: OutboxItem[][] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = batchBytesOf(m);
    if (size > batch.maxBytes) {
      out.push([m]);
      continue;
    }
    if (current.length >= batch.maxMessages || bytes + size > batch.maxBytes) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Delivers one unit (one message, or a batch of them) to a discovered peer and records it. */
async function deliverUnit(
  deps: Deps,
  worker: string,
  domain: string,
  peer: Peer,
  unit: OutboxItem[][],
  pass: FederationPass,
): Promise<void> {
  if (!peer.document || peer.status === "none") {
    const outcome: SendOutcome = {
      ok: false,
      code: "no_peer",
      message: `federation discovery for ${domain}: ${peer.detail ?? "no peer"}`,
      temporary: true,
    };
    for (const items of unit) await recordOutcome(deps, worker, domain, items, outcome, pass);
    return;
  }
  // The bytes of all the unit's messages in one read. A message whose row is no longer held
  // (its lease lapsed and another worker took it) stays behind: that worker delivers it.
  const raws = await readLeasedRaws(deps, unit.map((items) => items[0].id), worker);
  const ready: { items: OutboxItem[]; msg: OutgoingMessage }[] = [];
  for (const items of unit) {
    const raw = raws.get(items[0].id);
    if (raw) ready.push({ items, msg: await outgoing(deps, domain, items, raw) });
    else deps.logger.log("warn", "federation.lease_lost", { domain, id: items[0].id });
  }
  const outcomes = unit.length > 1
    ? await sendFederatedBatch(deps, peer.document, ready.map((r) => r.msg))
    : await Promise.all(ready.map((r) => sendFederated(deps, peer.document!, r.msg)));
  const accepted = await Promise.all(
    ready.map((r, i) => recordOutcome(deps, worker, domain, r.items, outcomes[i], pass)),
  );
  await recordAccepted(deps, worker, domain, accepted.filter((a) => a !== undefined), pass);
}

/**
 * Claims due federated rows and delivers them, `concurrency` units at a time: a unit is one
 * message, or for a peer that advertises a batch endpoint, a batch of its messages.
 */
export async function runFederationOnce(
  deps: Deps,
  worker: string,
  options: { limit?: number; leaseSeconds?: number; concurrency?: number } = {},
): Promise<FederationPass> {
  const pass: FederationPass = { claimed: 0, sent: 0, deferred: 0, failed: 0 };
  if (!deps.federation) return pass;
  const claim = await claimOutbox(deps, {
    worker,
    limit: options.limit ?? 200,
    leaseSeconds: options.leaseSeconds ?? 120,
    route: "federation",
  });
  const jobs: { domain: string; peer: Peer; unit: OutboxItem[][] }[] = [];
  for (const group of claim.groups) {
    const messages = perMessage(group);
    pass.claimed += messages.reduce((n, m) => n + m.length, 0);
    let peer = await discover(deps, group.domain);
    // A peer that failed before is looked up again on each retry (retries are already spaced).
    if (peer.status !== "peer") peer = await discover(deps, group.domain, true);
    // Batches here are off (0): no batch endpoint, and one request per message out as well.
    const batch = deps.config.federationBatchMessages > 0 ? peer.document?.batch : undefined;
    for (const unit of units(messages, batch)) {
      jobs.push({ domain: group.domain, peer, unit });
    }
  }
  let next = 0;
  const run = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      try {
        await deliverUnit(deps, worker, job.domain, job.peer, job.unit, pass);
      } catch (e) {
        deps.logger.log("error", "federation.send_failed", {
          domain: job.domain,
          error: String(e),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 16, jobs.length) }, run));
  return pass;
}

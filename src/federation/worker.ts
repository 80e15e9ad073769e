/**
 * One pass of the gateway-side federation worker: lease the due outbox rows whose domains have
 * a peer (the same leases, retries, expiry and bounces as the bridge's SMTP worker), send each
 * message once per domain with all its recipients, store the verified receipt and record every
 * recipient's result. The entry point calls this on a timer (at the edge: a cron trigger).
 */
import type { OutboxGroup, OutboxItem, OutboxResultRequest } from "../../schemas/bridge_outbox.ts";
import type { Deps } from "../deps.ts";
import type { Statement } from "../store/store.ts";
import { rememberSha256 } from "../crypto.ts";
import { claimOutbox, readLeasedRaw, recordResult } from "../services/outbox_delivery.ts";
import { discover } from "./discovery.ts";
import { MAX_RECIPIENTS } from "./policy.ts";
import { domainOf, sendFederated, type SendOutcome } from "./send.ts";

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

async function deliverMessage(
  deps: Deps,
  worker: string,
  domain: string,
  items: OutboxItem[],
  pass: FederationPass,
): Promise<void> {
  let peer = await discover(deps, domain);
  // A peer that failed before is looked up again on each retry (retries are already spaced).
  if (peer.status !== "peer") peer = await discover(deps, domain, true);
  let outcome: SendOutcome;
  const first = items[0];
  if (!peer.document || peer.status === "none") {
    outcome = {
      ok: false,
      code: "no_peer",
      message: `federation discovery for ${domain}: ${peer.detail ?? "no peer"}`,
      temporary: true,
    };
  } else {
    const raw = await readLeasedRaw(deps, first.id, worker);
    // The store keys the bytes by their SHA-256: the envelope's digest needs no second hash.
    rememberSha256(raw, first.blobSha256);
    // Parsing costs more than the rest of a send: only when the row lacks what we need.
    const parsed = first.mailFrom === "" || first.messageId === null
      ? await deps.mime.parse(raw)
      : undefined;
    // A bounce (null sender) is signed by the domain of its From header when that is ours.
    const signer = first.mailFrom === "" ? domainOf(parsed?.from?.address ?? "") : undefined;
    outcome = await sendFederated(deps, peer.document, {
      domain,
      mailFrom: first.mailFrom,
      recipients: items.map((i) => i.rcptTo),
      raw,
      messageId: first.messageId ?? parsed?.messageId ?? "",
      signer,
    });
  }
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
    return;
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
  // The receipt is stored by the write job of the first accepted recipient's result (one job
  // less per message); when the peer accepted nobody, by a job of its own.
  let receiptStored = !items.some((i) => byRecipient.get(i.rcptTo)?.status === "accepted");
  if (receiptStored) await deps.store.batch([receipt]);
  for (const item of items) {
    const r = byRecipient.get(item.rcptTo);
    if (r?.status === "accepted") {
      const recorded = await report(
        deps,
        worker,
        item,
        {
          outcome: "sent",
          message: `accepted by ${domain} (signed receipt stored)`,
          remoteMta: domain,
        },
        pass,
        receiptStored ? [] : [receipt],
      );
      receiptStored ||= recorded;
      continue;
    }
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

/** Claims due federated rows and delivers them, `concurrency` messages at a time. */
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
  const jobs = claim.groups.flatMap((g) =>
    perMessage(g).map((items) => ({ domain: g.domain, items }))
  );
  pass.claimed = jobs.reduce((n, j) => n + j.items.length, 0);
  let next = 0;
  const run = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      try {
        await deliverMessage(deps, worker, job.domain, job.items, pass);
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

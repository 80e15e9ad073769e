/**
 * Delivers one destination domain's leased recipients over SMTP: resolve the MX hosts (mx.ts),
 * apply the domain's MTA-STS policy (mta_sts.ts), connect to the hosts in preference order until
 * one answers (RFC 5321 section 5.1), then run every message over that one connection —
 * recipients of the same message and sender share one transaction — and report each recipient:
 * 2xx → sent, 4xx or a network/TLS/DNS problem → deferred, 5xx → failed (the gateway bounces),
 * each with the stage it was answered at (DNS, connect, MAIL, RCPT, DATA) so that the gateway can
 * tell a refusal of the recipient from one of the sender or the message.
 */
import type { OutboxGroup, OutboxItem } from "../../schemas/bridge_outbox.ts";
import type { DeliveryStage, OutboxResultRequest } from "../../schemas/bridge_outbox.ts";
import type { Resolver } from "../dns/resolver.ts";
import {
  type ConnectOptions,
  type SmtpClient,
  SmtpConnectError,
  type SmtpReply,
  type TlsMode,
} from "./client.ts";
import { type MtaStsSource, mxMatchesPolicy } from "./mta_sts.ts";
import { tlsFailureType, type TlsPolicy, tlsPolicyOf } from "./tls_result.ts";
import { hostAddresses, resolveMx } from "./mx.ts";

export type Result = Omit<OutboxResultRequest, "worker">;

export interface WorkerLogger {
  log(
    level: "debug" | "info" | "warn" | "error",
    event: string,
    fields?: Record<string, unknown>,
  ): void;
}

export interface DomainDeliveryDeps {
  resolver: Resolver;
  mtaSts?: MtaStsSource;
  connect(options: ConnectOptions): Promise<SmtpClient>;
  /** Our host name (EHLO). */
  hostname: string;
  /** Remote port (25 on the Internet). */
  port: number;
  /** Extra CAs trusted when a certificate must be valid (tests). */
  ca?: string[];
  /** The bytes to send for a row (fetched and DKIM-signed); throws when unavailable. */
  message(item: OutboxItem): Promise<Uint8Array>;
  report(item: OutboxItem, result: Result): Promise<void>;
  logger: WorkerLogger;
}

/** Recipients per transaction (RFC 5321 section 4.5.3.1.8 guarantees 100). */
const MAX_RCPT_PER_TRANSACTION = 100;
/** Addresses tried per connection attempt, so one attempt stays well inside the lease. */
const MAX_CONNECT_ATTEMPTS = 5;

const replyResult = (r: SmtpReply, stage: DeliveryStage, remoteMta: string): Result => ({
  outcome: r.code >= 200 && r.code < 300 ? "sent" : r.code >= 500 ? "failed" : "deferred",
  smtpCode: r.code,
  ...(r.enhanced ? { enhanced: r.enhanced } : {}),
  stage,
  message: r.text.slice(0, 1000),
  remoteMta,
});

const deferred = (message: string, enhanced = "4.4.1", remoteMta?: string): Result => ({
  outcome: "deferred",
  enhanced,
  message: message.slice(0, 1000),
  ...(remoteMta ? { remoteMta } : {}),
});

/** Items sharing bytes and sender travel in one transaction. */
function transactions(items: OutboxItem[]): OutboxItem[][] {
  const byKey = new Map<string, OutboxItem[]>();
  for (const item of items) {
    const key = `${item.blobSha256}\u0000${item.mailFrom}`;
    const list = byKey.get(key) ?? [];
    list.push(item);
    byKey.set(key, list);
  }
  const out: OutboxItem[][] = [];
  for (const list of byKey.values()) {
    for (let i = 0; i < list.length; i += MAX_RCPT_PER_TRANSACTION) {
      out.push(list.slice(i, i + MAX_RCPT_PER_TRANSACTION));
    }
  }
  return out;
}

interface Candidate {
  mxName: string;
  tls: TlsMode;
  /** The domain's policy, for its TLS report (tls_result.ts). */
  policy: TlsPolicy;
}

/** The MX hosts to try, in order, with the TLS each needs; or the result for every item. */
async function candidates(
  deps: DomainDeliveryDeps,
  domain: string,
): Promise<Candidate[] | Result> {
  const route = await resolveMx(deps.resolver, domain);
  if (route.kind === "fail") {
    // A null MX (5.1.10) fails the message; as a DNS answer it never suppresses the address.
    return route.permanent
      ? { outcome: "failed", enhanced: route.enhanced, stage: "dns", message: route.message }
      : deferred(route.message, route.enhanced);
  }
  let policy;
  try {
    policy = await deps.mtaSts?.policyFor(domain);
  } catch (e) {
    deps.logger.log("warn", "smtp_out.mta_sts_error", { domain, error: String(e) });
  }
  if (policy?.mode === "enforce") {
    // RFC 8461 section 4.1: only MX hosts the policy names, each with a valid certificate.
    const allowed = route.hosts.filter((h) => mxMatchesPolicy(h.name, policy));
    if (allowed.length === 0) {
      return deferred(`no MX host of ${domain} matches its MTA-STS policy`, "4.7.5");
    }
    const sts = tlsPolicyOf(domain, policy);
    return allowed.map((h) => ({ mxName: h.name, tls: "verify" as const, policy: sts }));
  }
  if (policy?.mode === "testing") {
    const mismatched = route.hosts.filter((h) => !mxMatchesPolicy(h.name, policy));
    if (mismatched.length) {
      deps.logger.log("info", "smtp_out.mta_sts_testing_mismatch", {
        domain,
        hosts: mismatched.map((h) => h.name),
      });
    }
  }
  const tlsPolicy = tlsPolicyOf(domain, policy);
  return route.hosts.map((h) => ({
    mxName: h.name,
    tls: "opportunistic" as const,
    policy: tlsPolicy,
  }));
}

/** Connects to the first host that answers; the last problem when none does. */
async function connectFirst(
  deps: DomainDeliveryDeps,
  domain: string,
  list: Candidate[],
): Promise<SmtpClient | Result> {
  let last: Result | undefined;
  let anyAddress = false;
  let attempts = 0;
  for (const candidate of list) {
    if (attempts >= MAX_CONNECT_ATTEMPTS) break;
    const { addresses, temporaryError } = await hostAddresses(deps.resolver, candidate.mxName);
    if (temporaryError) last = deferred(`DNS: ${temporaryError}`, "4.4.3");
    for (const address of addresses) {
      if (attempts++ >= MAX_CONNECT_ATTEMPTS) break;
      anyAddress = true;
      try {
        return await deps.connect({
          address,
          port: deps.port,
          mxName: candidate.mxName,
          clientName: deps.hostname,
          tls: candidate.tls,
          ca: deps.ca,
        });
      } catch (e) {
        const message = e instanceof SmtpConnectError ? e.message : String(e);
        deps.logger.log("info", "smtp_out.connect_failed", {
          domain,
          mx: candidate.mxName,
          address,
          error: message,
        });
        last = deferred(
          message,
          candidate.tls === "verify" ? "4.7.5" : "4.4.1",
          candidate.mxName,
        );
        // A failed TLS negotiation is a failed session of the domain's TLS report.
        const failure = tlsFailureType(message, candidate.tls === "verify");
        if (failure) {
          last.tls = { ...candidate.policy, mxHost: candidate.mxName, result: failure };
        }
      }
    }
  }
  if (!anyAddress && !last && list.length === 1 && list[0].mxName === domain) {
    // No MX, and the implicit MX has no address either (or the domain does not exist): the
    // domain has no mail route (RFC 5321 section 5.1). It fails the message but suppresses
    // nothing (stage "dns"): the domain may have been added a moment ago, on another node or
    // in DNS, and the next send must go out.
    return {
      outcome: "failed",
      enhanced: "5.1.2",
      stage: "dns",
      message: `${domain} has no MX record and no address (or does not exist)`,
    };
  }
  return last ?? deferred(`no address found for the MX hosts of ${domain}`, "4.4.4");
}

/**
 * Delivers every item of the group and reports each one; never throws. The next message is
 * fetched and signed while the current one is on the wire, and results are reported without
 * holding up the next transaction (the gateway commits them together); all are reported
 * before this returns.
 */
export async function deliverDomain(deps: DomainDeliveryDeps, group: OutboxGroup): Promise<void> {
  const reports: Promise<void>[] = [];
  const report = (item: OutboxItem, result: Result) => {
    reports.push(deps.report(item, result));
  };
  const reportAll = (items: OutboxItem[], result: Result) => {
    for (const item of items) report(item, result);
  };
  const list = await candidates(deps, group.domain);
  if (!Array.isArray(list)) {
    reportAll(group.items, list);
    await Promise.all(reports);
    return;
  }

  let client: SmtpClient | undefined;
  const pending = transactions(group.items);
  const prepare = (item: OutboxItem) => {
    const bytes = deps.message(item);
    bytes.catch(() => {}); // awaited below; a connection failure may leave it unread
    return bytes;
  };
  let next = pending.length > 0 ? prepare(pending[0][0]) : undefined;
  try {
    while (pending.length > 0) {
      if (!client) {
        const connected = await connectFirst(deps, group.domain, list);
        if (!("send" in connected)) return reportAll(pending.flat(), connected);
        client = connected;
      }
      const batch = pending.shift()!;
      const current = next!;
      next = pending.length > 0 ? prepare(pending[0][0]) : undefined;
      let bytes: Uint8Array;
      try {
        bytes = await current;
      } catch (e) {
        deps.logger.log("warn", "smtp_out.message_unavailable", {
          id: batch[0].id,
          error: String(e),
        });
        reportAll(batch, deferred(`could not prepare the message: ${e}`, "4.3.0"));
        continue;
      }
      try {
        const replies = await client.send(
          batch[0].mailFrom,
          batch.map((i) => i.rcptTo),
          bytes,
        );
        // RFC 8460: a session counts as successful when TLS was negotiated.
        const tls = {
          ...list[0].policy,
          mxHost: client.mxName,
          result: client.secure ? "success" : "starttls-not-supported",
        };
        for (const [i, reply] of replies.entries()) {
          report(batch[i], { ...replyResult(reply.reply, reply.stage, client.mxName), tls });
        }
      } catch (e) {
        // The connection broke mid-transaction: this message is deferred (it may or may not
        // have arrived), and the rest get a fresh connection.
        const message = e instanceof Error ? e.message : String(e);
        reportAll(batch, deferred(message, "4.4.2", client.mxName));
        client.close();
        client = undefined;
      }
    }
  } finally {
    client?.close();
    await Promise.all(reports);
  }
}

/**
 * The outbound SMTP worker: a bounded loop that claims due outbox rows from the gateway (leased,
 * grouped by destination domain), delivers over up to `concurrency` connections at a time
 * (deliver.ts; a busy domain gets several, lanes.ts),
 * DKIM-signs each message once per claim (dkim.ts), ARC-seals forwarded copies (arc_seal.ts),
 * and reports every recipient's result.
 * Destination domains that publish `_sharp._tcp` SRV records go over SHARP/1.3 instead
 * (../sharp/outbound.ts), when that route is enabled. When
 * the queue is empty it waits `claimIntervalMs`; `stop()` ends the loop after the deliveries in
 * flight, within a grace period (rows it could not finish come back to a worker when their
 * lease lapses).
 */
import type { OutboxGroup, OutboxItem } from "../../schemas/bridge_outbox.ts";
import type { Resolver } from "../dns/resolver.ts";
import { GatewayError } from "../gateway_client.ts";
import { type ConnectOptions, openSmtpClient, type SmtpClient } from "./client.ts";
import { DkimSigner, type SignatureMaker } from "./dkim.ts";
import { arcSealHeaders, prepend, type SealMaker } from "./arc_seal.ts";
import { deliverDomain, type Result, type WorkerLogger } from "./deliver.ts";
import type { MtaStsSource } from "./mta_sts.ts";
import type { OutboxClient } from "./outbox_client.ts";
import { deliverSharpDomain } from "../sharp/outbound.ts";
import { spreadOverLanes } from "./lanes.ts";
import { publishesSharpSrv } from "../sharp/verify_sender.ts";

export interface OutboundWorkerOptions {
  gateway: OutboxClient;
  resolver: Resolver;
  mtaSts?: MtaStsSource;
  /** Our host name (EHLO). */
  hostname: string;
  /** Remote SMTP port (25; tests use a local sink's port). */
  port: number;
  concurrency: number;
  claimIntervalMs: number;
  leaseSeconds: number;
  /** Rows per claim (default: 10 per concurrent domain, at most 500). */
  batch?: number;
  logger: WorkerLogger;
  /** Unique name of this worker (default: random). */
  workerId?: string;
  /** Extra CAs trusted for MTA-STS "verify" connections (tests). */
  ca?: string[];
  /** Replaces the SMTP client (tests). */
  connect?: (options: ConnectOptions) => Promise<SmtpClient>;
  /** Makes DKIM signatures elsewhere (another thread; closed by `stop()`); default: here. */
  dkimSignatures?: SignatureMaker & { close?(): void };
  /** Makes ARC sets elsewhere (another thread, the one that signs); default: here. */
  arcSeal?: SealMaker;
  /** SHARP/1.3 to domains with SRV `_sharp._tcp`, minting stamps of these bits; absent: off. */
  sharp?: { hashcashBits: number; timeoutMs?: number };
}

/** How one destination domain is reached from the bridge. */
export type OutboundRoute = "smtp" | "sharp" | "dns_error";

export class OutboundWorker {
  readonly workerId: string;
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private readonly signer: DkimSigner;
  /** The rows of the claim under way not yet reported (their lease is renewed). */
  private unreported?: Set<number>;

  constructor(private readonly options: OutboundWorkerOptions) {
    this.workerId = options.workerId ?? `smtp-out-${crypto.randomUUID()}`;
    this.signer = new DkimSigner(
      (domain) => options.gateway.dkimKeys(domain),
      undefined,
      undefined,
      options.dkimSignatures,
    );
  }

  /** Starts the loop (idempotent). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Stops after the deliveries in flight, waiting at most `graceMs` for them (what is still
   * unfinished then comes back to a worker when its lease lapses).
   */
  async stop(graceMs = 15_000): Promise<void> {
    this.running = false;
    this.wake?.();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.loop,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
    this.options.dkimSignatures?.close?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let claimed = 0;
      try {
        claimed = await this.runOnce();
        failures = 0;
      } catch (e) {
        failures++;
        this.options.logger.log("warn", "smtp_out.claim_failed", { error: String(e), failures });
      }
      if (!this.running) break;
      // A full batch means more is probably due: claim again at once; else wait (longer after
      // repeated failures to reach the gateway, at most a minute).
      if (claimed >= this.batchSize && failures === 0) continue;
      const wait = failures
        ? Math.min(60_000, this.options.claimIntervalMs * 2 ** Math.min(failures, 6))
        : this.options.claimIntervalMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private get batchSize(): number {
    return this.options.batch ?? Math.min(500, Math.max(10, this.options.concurrency * 10));
  }

  /** One claim and its deliveries; resolves with the number of rows claimed. */
  async runOnce(): Promise<number> {
    const claim = await this.options.gateway.claim({
      worker: this.workerId,
      limit: this.batchSize,
      leaseSeconds: this.options.leaseSeconds,
    });
    // A busy domain gets several of the connections (lanes.ts), not one message at a time.
    const groups = spreadOverLanes(claim.groups, this.options.concurrency);
    const total = groups.reduce((n, g) => n + g.items.length, 0);
    if (total === 0) return 0;
    const unreported = new Set(groups.flatMap((g) => g.items.map((i) => i.id)));
    this.unreported = unreported;
    const renewal = this.renewWhileWorking(unreported);
    const prepared = new Map<string, Promise<Uint8Array>>();
    const lanes = Array.from(
      { length: Math.min(this.options.concurrency, groups.length) },
      async () => {
        for (let group = groups.shift(); group; group = groups.shift()) {
          await this.deliverGroup(group, prepared);
        }
      },
    );
    try {
      await Promise.all(lanes);
    } finally {
      renewal.stop();
      this.unreported = undefined;
    }
    return total;
  }

  /**
   * Renews the lease of the claim's unreported rows every third of the lease while the lanes
   * work: another bridge may take a row only once this worker has died (or lost the gateway
   * for a whole lease), never because a delivery was slow — it would send the message again.
   */
  private renewWhileWorking(unreported: Set<number>): { stop(): void } {
    const everyMs = Math.max(1000, (this.options.leaseSeconds * 1000) / 3);
    const timer = setInterval(() => {
      if (unreported.size === 0) return;
      this.options.gateway.renew({
        worker: this.workerId,
        ids: [...unreported].slice(0, 500),
        leaseSeconds: this.options.leaseSeconds,
      }).catch((e) => {
        // The next renewal tries again; a lease lost meanwhile shows as a 409 on the result.
        this.options.logger.log("warn", "smtp_out.renew_failed", { error: String(e) });
      });
    }, everyMs);
    return { stop: () => clearInterval(timer) };
  }

  /**
   * The route for a destination domain. Peers that speak Postern's signed HTTPS federation never
   * reach the bridge (the gateway delivers to them itself); an HTTPS-discovery check belongs
   * here, before the SRV test, should the bridge ever learn it.
   */
  async routeFor(domain: string): Promise<OutboundRoute> {
    if (!this.options.sharp) return "smtp";
    const srv = await publishesSharpSrv(this.options.resolver, domain);
    if (srv !== "error") return srv === "yes" ? "sharp" : "smtp";
    // Some name servers fail SRV queries: a domain with MX records still gets its SMTP mail.
    const mx = await this.options.resolver.mx(domain).catch(() => []);
    return mx.length > 0 ? "smtp" : "dns_error";
  }

  private async deliverGroup(
    group: OutboxGroup,
    prepared: Map<string, Promise<Uint8Array>>,
  ): Promise<void> {
    const { gateway, logger } = this.options;
    const route = await this.routeFor(group.domain);
    if (route === "dns_error") {
      // A SHARP-only domain has no MX: guessing SMTP on a DNS failure could bounce its mail.
      for (const item of group.items) {
        await this.report(item, {
          outcome: "deferred",
          enhanced: "4.4.3",
          message: `DNS: could not look up _sharp._tcp.${group.domain}`,
        });
      }
      return;
    }
    if (route === "sharp") {
      await deliverSharpDomain({
        resolver: this.options.resolver,
        hashcashBits: this.options.sharp!.hashcashBits,
        timeoutMs: this.options.sharp!.timeoutMs,
        hostname: this.options.hostname,
        logger,
        message: (item) => gateway.raw(item.id, this.workerId),
        report: (item, result) => this.report(item, result),
      }, group);
      return;
    }
    await deliverDomain({
      resolver: this.options.resolver,
      mtaSts: this.options.mtaSts,
      connect: this.options.connect ?? openSmtpClient,
      hostname: this.options.hostname,
      port: this.options.port,
      ca: this.options.ca,
      logger,
      message: (item: OutboxItem) => {
        // One fetch and one signature per message, whatever number of domains it goes to (a
        // forwarded copy's seal is part of the key: another forwarding domain seals anew).
        const key = item.arc
          ? `${item.blobSha256} ${item.arc.domain} ${item.arc.cv} ${item.arc.authResults}`
          : item.blobSha256;
        let bytes = prepared.get(key);
        if (!bytes) {
          bytes = gateway.raw(item.id, this.workerId)
            .then(async (raw) => await this.seal(item, (await this.signer.sign(raw)).bytes));
          prepared.set(key, bytes);
          bytes.catch(() => prepared.delete(key));
        }
        return bytes;
      },
      report: (item, result) => this.report(item, result),
    }, group);
  }

  /**
   * A forwarded copy with its ARC set in front (after DKIM signing, so that the
   * ARC-Message-Signature covers a DKIM-Signature of ours). Without a key for the forwarding
   * domain, or when mailauth refuses (a chain already failed or full), it goes out unsealed:
   * SRS still gets it past SPF, and holding the mail back would help nobody.
   */
  private async seal(item: OutboxItem, bytes: Uint8Array): Promise<Uint8Array> {
    if (!item.arc) return bytes;
    const keys = await this.signer.keysFor(item.arc.domain);
    const outcome = keys && keys.keys.length > 0
      ? await (this.options.arcSeal ?? arcSealHeaders)(bytes, item.arc, keys)
      : { refused: `${item.arc.domain} has no DKIM key` };
    if ("refused" in outcome) {
      this.options.logger.log("warn", "smtp_out.arc_unsealed", {
        id: item.id,
        domain: item.arc.domain,
        reason: outcome.refused,
      });
      return bytes;
    }
    return prepend(outcome.headers, bytes);
  }

  private async report(item: OutboxItem, result: Result): Promise<void> {
    const { gateway, logger } = this.options;
    this.unreported?.delete(item.id);
    for (let attempt = 1;; attempt++) {
      try {
        await gateway.result(item.id, { worker: this.workerId, ...result });
        logger.log("info", "smtp_out.result", {
          id: item.id,
          domain: item.domain,
          outcome: result.outcome,
          code: result.smtpCode,
          enhanced: result.enhanced,
          remoteMta: result.remoteMta,
        });
        return;
      } catch (e) {
        const temporary = e instanceof GatewayError && e.temporary;
        if (!temporary || attempt >= 3) {
          // Lost lease (409) or the gateway is gone: the row returns to the queue when its
          // lease lapses, so it is retried, never lost.
          logger.log("warn", "smtp_out.report_failed", {
            id: item.id,
            outcome: result.outcome,
            error: String(e),
          });
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }
}

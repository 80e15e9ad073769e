/**
 * Federation's runtime adapter for Deno and Bun: the DNS port (node:dns Resolver, pointed at
 * POSTERN_DNS_SERVERS like the bridge's), the HTTPS fetch port (the SSRF-guarded fetch of
 * hosts/process/outbound_http.ts, optionally trusting extra CA certificates, e.g. a test CA), and the timer
 * loop that runs the federation worker inside `postern serve` / `postern gateway` (at the edge
 * the same pass runs from a cron trigger).
 */
import { dnsPort, outboundDns, outboundFetch } from "./outbound_http.ts";
import type { Config } from "../../src/config.ts";
import type { Deps } from "../../src/deps.ts";
import type { FederationPorts, Logger } from "../../src/ports.ts";
import { runFederationOnce } from "../../src/federation/worker.ts";

/**
 * How long an idle connection to a peer is kept: the outbox pushes to a busy peer many times a
 * second, each over a kept connection instead of a new TLS handshake; a quiet peer's connection
 * goes after a few seconds (well inside common servers' own idle limits, so a reused connection
 * is seldom one the peer is closing).
 */
const PEER_KEEP_ALIVE_MS = 4000;

/** The ports, plus `close`, which ends the fetch port's kept connections. */
export function federationPorts(
  config: Config,
  caCerts: string[] = [],
): FederationPorts & { close(): void } {
  const dns = outboundDns(config);
  const fetch = outboundFetch(config, caCerts, dns.addresses, PEER_KEEP_ALIVE_MS);
  return { dns: dnsPort(config, dns), fetch, close: () => fetch.close() };
}

export interface FederationWorker {
  close(): Promise<void>;
}

/**
 * Passes that may run at once. A pass waits for its slowest peer; mail queued meanwhile would
 * wait for all of it (the queueing that made federation's p99 about twice its p50). So mail
 * queued while a pass has run `SLOW_PASS_MS` and still runs gets a pass beside it: claims are
 * leases, no row goes to two.
 */
const MAX_PASSES = 4;
/**
 * How long a wake-up waits for the running passes before it starts one beside them. At once, every
 * send with a remote recipient started a pass of its own, a claim job each, where the running pass
 * would have taken the mail a moment later: the batch API's 20-message batches lost 57% of their
 * rate (bench t: 1,806 → 773 accepted/s, 0.61 → 1.36 ms of server CPU per message).
 */
const SLOW_PASS_MS = 50;

/**
 * Runs federation passes: at once while there is work, at once when a send queued mail (the
 * event bus's wake-up: a federated message leaves in milliseconds rather than after the poll;
 * the wake-ups of one turn share a pass), beside a pass that has been waiting `SLOW_PASS_MS`
 * (up to MAX_PASSES), else every `intervalMs` (which also finds mail queued by other processes,
 * and retries).
 */
export function startFederationWorker(
  deps: Deps,
  logger: Logger,
  options: { intervalMs?: number; worker?: string } = {},
): FederationWorker {
  const worker = options.worker ?? `federation-${crypto.randomUUID().slice(0, 8)}`;
  const interval = options.intervalMs ?? deps.config.federationIntervalMs;
  let stopped = false;
  let passes = 0;
  /** When the newest running pass started (performance.now()). */
  let newestStart = 0;
  /** A wake-up came after the newest pass started: its claim may have missed that mail. */
  let woken = false;
  /** A pass is due at the next turn (the wake-ups of one turn share it). */
  let soon = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let besideTimer: ReturnType<typeof setTimeout> | undefined;
  const running = new Set<Promise<void>>();
  const pass = () => {
    clearTimeout(timer);
    soon = false;
    passes++;
    newestStart = performance.now();
    woken = false;
    const current: Promise<void> = (async () => {
      try {
        return (await runFederationOnce(deps, worker)).claimed > 0;
      } catch (e) {
        logger.log("error", "federation.worker_error", { error: String(e) });
        return false;
      }
    })().then((busy) => {
      passes--;
      running.delete(current);
      if (stopped) return;
      if (busy || woken) passSoon();
      else if (passes === 0 && !soon) timer = setTimeout(pass, interval);
    });
    running.add(current);
  };
  const passSoon = () => {
    if (soon) return;
    clearTimeout(timer);
    soon = true;
    timer = setTimeout(pass, 0);
  };
  /** Still waiting after SLOW_PASS_MS, with mail no pass has looked for: one beside it. */
  const passBeside = () => {
    besideTimer = undefined;
    if (stopped || !woken || soon || passes === 0 || passes >= MAX_PASSES) return;
    if (performance.now() - newestStart >= SLOW_PASS_MS) pass();
  };
  const unsubscribe = deps.bus.onQueued(() => {
    if (stopped) return;
    if (passes === 0) return passSoon();
    woken = true;
    besideTimer ??= setTimeout(passBeside, SLOW_PASS_MS);
  });
  timer = setTimeout(pass, 0);
  return {
    async close() {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      clearTimeout(besideTimer);
      while (running.size > 0) await Promise.all(running);
    },
  };
}

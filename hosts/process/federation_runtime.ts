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
 * wait for all of it (the queueing that made federation's p99 about twice its p50). So a
 * wake-up during a pass starts another beside it: claims are leases, no row goes to two.
 */
const MAX_PASSES = 4;

/**
 * Runs federation passes: at once while there is work, at once when a send queued mail (the
 * event bus's wake-up: a federated message leaves in milliseconds rather than after the poll),
 * up to MAX_PASSES at a time, else every `intervalMs` (which also finds mail queued by other
 * processes, and retries).
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
  /** A wake-up came while MAX_PASSES ran: their claims may have missed that mail. */
  let woken = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const running = new Set<Promise<void>>();
  const pass = () => {
    clearTimeout(timer);
    passes++;
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
      if (busy || woken) pass();
      else if (passes === 0) timer = setTimeout(pass, interval);
    });
    running.add(current);
  };
  const unsubscribe = deps.bus.onQueued(() => {
    if (stopped) return;
    if (passes < MAX_PASSES) pass();
    else woken = true;
  });
  timer = setTimeout(pass, 0);
  return {
    async close() {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      while (running.size > 0) await Promise.all(running);
    },
  };
}

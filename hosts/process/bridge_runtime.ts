/**
 * Starts the bridge's listeners (SMTP MX, submission, submissions, IMAP, POP3, SHARP/1.3) and
 * its outbound worker against a gateway: in-process inside `postern serve` (the app's fetch, no socket) or over
 * HTTP(S) for `postern bridge --gateway URL`. Knows ports and files; the protocol code does not.
 */
import { resolve } from "node:path";
import { and, eq, isNull } from "drizzle-orm";
import { type FetchLike, GatewayClient } from "../../bridge/gateway_client.ts";
import type { BridgeDirect } from "../../schemas/bridge.ts";
import { ByteBudget } from "../../bridge/net/byte_budget.ts";
import { loadTlsContext } from "../../bridge/net/tls.ts";
import type { TcpListener } from "../../bridge/net/tcp_server.ts";
import { GatewaySmtpBackend } from "../../bridge/smtp/gateway_backend.ts";
import { startSmtpServer } from "../../bridge/smtp/server.ts";
import { cachedResolver, hostResolver } from "./dns.ts";
import { MtaStsResolver } from "../../bridge/smtp_out/mta_sts.ts";
import { OutboxClient } from "../../bridge/smtp_out/outbox_client.ts";
import { OutboundWorker } from "../../bridge/smtp_out/worker.ts";
import type { SignatureMaker } from "../../bridge/smtp_out/dkim.ts";
import { createMailauthThread, type MailauthThread } from "./mailauth_thread.ts";
import { GatewaySharpBackend } from "../../bridge/sharp/gateway_backend.ts";
import { GatewayReplayTable } from "../../bridge/sharp/gateway_replay.ts";
import { startSharpServer } from "../../bridge/sharp/server.ts";
import { startPop3Listeners } from "./pop3_runtime.ts";
import { startImapListeners } from "./imap_runtime.ts";
import { createApiKey } from "../../src/auth/api_keys.ts";
import type { Config } from "../../src/config.ts";
import type { Logger } from "../../src/ports.ts";
import { schema, type Store } from "../../src/store/store.ts";
import { sha256Hex } from "../../src/crypto.ts";
import { exists, generateSelfSigned } from "./tls_files.ts";
import { readFile, writeFile } from "node:fs/promises";

export interface BridgeRuntime {
  listeners: { name: string; port: number }[];
  /** Open connections per listener now (for /metrics); absent on a bridge thread. */
  sessions?(): { name: string; open: number }[];
  /** The outbound SMTP worker, unless POSTERN_OUTBOUND_PORT is 0. */
  outbound?: OutboundWorker;
  close(): Promise<void>;
}

export function tlsPaths(config: Config): { certFile: string; keyFile: string } {
  const dataDir = resolve(config.dataDir);
  return {
    certFile: config.tlsCertFile ?? resolve(dataDir, "tls", "cert.pem"),
    keyFile: config.tlsKeyFile ?? resolve(dataDir, "tls", "key.pem"),
  };
}

/** Creates the self-signed pair in the data folder when no certificate is configured or present. */
export async function ensureTlsFiles(config: Config, logger: Logger): Promise<void> {
  const { certFile, keyFile } = tlsPaths(config);
  if (config.tlsCertFile || await exists(certFile)) return;
  const { mkdir, rename, rm } = await import("node:fs/promises");
  await mkdir(resolve(config.dataDir, "tls"), { recursive: true, mode: 0o700 });
  // Made under temporary names and renamed, key first: the certificate's presence (checked
  // above) then always means a whole pair, even after a crash halfway.
  const tmp = `.${crypto.randomUUID()}.tmp`;
  try {
    await generateSelfSigned(certFile + tmp, keyFile + tmp, [
      config.hostname,
      "localhost",
      "127.0.0.1",
    ]);
    await rename(keyFile + tmp, keyFile);
    await rename(certFile + tmp, certFile);
  } finally {
    await rm(certFile + tmp, { force: true });
    await rm(keyFile + tmp, { force: true });
  }
  logger.log("info", "tls.self_signed_created", { certFile });
}

/**
 * The key `serve` uses to call its own gateway in-process: an admin's `bridge` key kept in
 * <dataDir>/bridge.key (0600), created on first use and again if it was revoked.
 */
export async function inProcessBridgeKey(config: Config, store: Store): Promise<string> {
  const file = resolve(config.dataDir, "bridge.key");
  const saved = (await readFile(file, "utf8").catch(() => "")).trim();
  if (saved) {
    const [row] = await store.db.select({ id: schema.apiKeys.id }).from(schema.apiKeys).where(
      and(eq(schema.apiKeys.keyHash, await sha256Hex(saved)), isNull(schema.apiKeys.revokedAt)),
    );
    if (row) return saved;
  }
  const [admin] = await store.db.select().from(schema.accounts).where(
    eq(schema.accounts.role, "admin"),
  ).limit(1);
  if (!admin) {
    throw new Error("the bridge needs an admin account to own its key: run `postern init`");
  }
  const { key } = await createApiKey(store, admin.id, {
    name: "in-process bridge",
    scopes: ["bridge"],
  });
  await writeFile(file, key + "\n", { mode: 0o600 });
  return key;
}

/** The longest an envelope's SPF/DMARC verdict is shared by later messages (envelope_verdicts.ts). */
const ENVELOPE_VERDICT_MS = 5_000;
/** How long an MX recipient's acceptance is reused (bridge/smtp/recipient_verdicts.ts). */
const RECIPIENT_VERDICT_MS = 2_000;

export async function startBridge(
  config: Config,
  gateway: { url: string; apiKey: string; fetcher?: FetchLike; direct?: BridgeDirect },
  logger: Logger,
): Promise<BridgeRuntime> {
  // A fetcher given here is the gateway in-process (app.fetch or the thread's tunnel): mail goes
  // to it as a stream of parts, never joined into one more copy of the message. On the same
  // thread, the SMTP calls (RCPT checks, hand-ins) take its direct entry: no HTTP per message.
  const client = new GatewayClient(gateway.url, gateway.apiKey, gateway.fetcher, {
    streamMail: gateway.fetcher !== undefined,
    direct: gateway.direct,
  });
  const paths = tlsPaths(config);
  const tls = await exists(paths.certFile) && await exists(paths.keyFile)
    ? loadTlsContext(paths)
    : undefined;
  if (!tls) {
    logger.log("warn", "tls.unavailable", {
      certFile: paths.certFile,
      note: "STARTTLS not offered",
    });
  }
  // MX mail is checked (SPF, DKIM, DMARC, ARC) with the configured resolver before hand-in, on
  // the mailauth thread, which also signs outbound mail; its DNS questions come back here.
  const resolver = cachedResolver(config);
  const mailauth = createMailauthThread(resolver);
  const backend = new GatewaySmtpBackend(client, config.hostname, {
    resolver,
    authenticate: (input, options) => mailauth.authenticateInbound(input, options),
    // A verdict of the envelope alone is reused for a few seconds, never longer than its DNS
    // answers could be cached (a 0 cache turns it off).
    envelopeVerdictMs: Math.min(config.dnsCacheSeconds * 1000, ENVELOPE_VERDICT_MS),
    recipientVerdictMs: RECIPIENT_VERDICT_MS,
    onVerdict: (envelope, v) =>
      logger.log("info", "smtp.inbound_auth", {
        clientIp: envelope.clientIp,
        spf: v.spf.result,
        dkim: v.dkim.map((d) => `${d.domain}:${d.result}`),
        dmarc: v.dmarc.result,
        arc: v.arc.result,
        disposition: v.disposition,
      }),
  });
  // One budget for every SMTP listener (bridge/net/byte_budget.ts).
  const contentBudget = new ByteBudget({
    total: config.contentBudgetBytes,
    perIp: config.contentBudgetPerIpBytes,
  });
  const common = {
    contentBudget,
    host: config.bridgeHost,
    hostname: config.hostname,
    backend,
    tls,
    maxMessageBytes: config.maxMessageBytes,
    maxRecipients: config.smtpMaxRecipients,
    maxConnections: config.smtpMaxConnections,
    maxPerIp: config.smtpMaxConnectionsPerIp,
    idleMs: 5 * 60_000,
    sessionMs: 30 * 60_000,
    trustedIps: config.smtpTrustedIps.split(",").map((s) => s.trim()).filter(Boolean),
    onError: (error: unknown) =>
      logger.log("error", "smtp.error", { error: String((error as Error)?.message ?? error) }),
  };
  const specs = [
    { name: "smtp", port: config.smtpPort, mode: "mx" as const, implicitTls: false },
    {
      name: "submission",
      port: config.submissionPort,
      mode: "submission" as const,
      implicitTls: false,
    },
    {
      name: "submissions",
      port: config.submissionsPort,
      mode: "submission" as const,
      implicitTls: true,
    },
  ].filter((s) => s.port > 0 && (!s.implicitTls || tls));
  const started: { name: string; listener: TcpListener }[] = [];
  try {
    for (const spec of specs) {
      const listener = await startSmtpServer({
        ...common,
        port: spec.port,
        mode: spec.mode,
        implicitTls: spec.implicitTls,
        requireTlsForAuth: true,
        earlyTalkerMs: spec.mode === "mx" ? config.smtpEarlyTalkerMs : 0,
      });
      started.push({ name: spec.name, listener });
      logger.log("info", "bridge.listening", {
        protocol: spec.name,
        host: config.bridgeHost,
        port: listener.port,
      });
    }
    if (config.sharpPort > 0) {
      // SHARP/1.3 (plain TCP): senders are verified by IP against their domain's SRV hosts.
      const listener = await startSharpServer({
        host: config.bridgeHost,
        port: config.sharpPort,
        backend: new GatewaySharpBackend(
          client,
          hostResolver(config),
          config.hostname,
        ),
        minBits: config.sharpMinHashcashBits,
        // Spent stamps live in the gateway, shared by every bridge.
        replay: new GatewayReplayTable(gateway.url, gateway.apiKey, gateway.fetcher),
        maxConnections: config.smtpMaxConnections,
        maxPerIp: config.smtpMaxConnectionsPerIp,
        idleMs: 60_000,
        sessionMs: 5 * 60_000,
        logger,
        onError: (error: unknown) =>
          logger.log("error", "sharp.error", { error: String((error as Error)?.message ?? error) }),
      });
      started.push({ name: "sharp", listener });
      logger.log("info", "bridge.listening", {
        protocol: "sharp",
        host: config.bridgeHost,
        port: listener.port,
      });
    }
    started.push(...await startPop3Listeners(config, gateway, tls, logger));
    started.push(...await startImapListeners(config, gateway, tls, logger, contentBudget));
  } catch (e) {
    for (const s of started) await s.listener.close();
    mailauth.close();
    throw e;
  }
  const outbound = config.outboundPort > 0
    ? startOutboundWorker(config, gateway, logger, mailauth)
    : undefined;
  return {
    listeners: started.map((s) => ({ name: s.name, port: s.listener.port })),
    sessions: () => started.map((s) => ({ name: s.name, open: s.listener.connections })),
    outbound,
    async close() {
      // Every listener drains at once (each waits up to its grace for transfers under way).
      await Promise.all([outbound?.stop(), ...started.map((s) => s.listener.close())]);
      mailauth.close();
    },
  };
}

/** The outbound SMTP worker: claims due outbox rows from the gateway and delivers them to MX. */
export function startOutboundWorker(
  config: Config,
  gateway: { url: string; apiKey: string; fetcher?: FetchLike },
  logger: Logger,
  /** Signs on this thread's worker (startBridge shares its own); default: a new one. */
  mailauth?: MailauthThread,
): OutboundWorker {
  // MX, A/AAAA, SRV and MTA-STS lookups are reused for a short while, as a caching resolver
  // in front of an MTA would: every message to a busy domain asks the same names.
  const resolver = cachedResolver(config);
  // RSA signing is the outbound path's largest CPU cost: it runs beside the event loop.
  const own = mailauth ? undefined : createMailauthThread(resolver);
  const thread = mailauth ?? own!;
  const dkim = Object.assign(
    (...args: Parameters<SignatureMaker>) => thread.dkimSignatures(...args),
    { close: () => own?.close() }, // the worker's stop() closes only a thread of its own
  );
  const worker = new OutboundWorker({
    gateway: new OutboxClient(gateway.url, gateway.apiKey, gateway.fetcher),
    resolver,
    mtaSts: new MtaStsResolver(resolver),
    hostname: config.hostname,
    port: config.outboundPort,
    concurrency: config.outboundConcurrency,
    claimIntervalMs: config.outboundClaimIntervalMs,
    leaseSeconds: config.outboundLeaseSeconds,
    logger,
    sharp: config.sharpOutbound ? { hashcashBits: config.sharpHashcashBits } : undefined,
    dkimSignatures: dkim,
    arcSeal: (...args) => thread.arcSeal(...args),
  });
  worker.start();
  logger.log("info", "bridge.outbound_started", {
    worker: worker.workerId,
    port: config.outboundPort,
    concurrency: config.outboundConcurrency,
  });
  return worker;
}

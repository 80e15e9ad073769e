/**
 * The ports the gateway declares and the runtime adapters implement (STYLE: Hono's core/adapter
 * split). Everything that is not a Web API — MIME libraries built on Node streams, DNS, timers
 * that outlive a request, the filesystem — reaches `src/` only through these interfaces.
 */
import type { AttachmentContent, ComposeInput, ParsedMail } from "../schemas/mail.ts";
import type { OutboundPolicy } from "../schemas/public_address.ts";

export interface MimePort {
  /**
   * Parses RFC 5322 bytes; never throws on malformed mail (best effort, like every MUA). Mail
   * beyond the parser's limits comes back `degraded` (headers only, src/mime/degraded.ts): a
   * throw here would become a temporary failure that senders retry for days.
   */
  parse(raw: Uint8Array): Promise<ParsedMail>;
  /** Builds RFC 5322 bytes (CRLF line ends) from a validated composition. */
  compose(input: ComposeInput): Promise<Uint8Array>;
  /** One attachment's decoded content, by its index in `ParsedMail.attachments`. */
  attachment(raw: Uint8Array, index: number): Promise<AttachmentContent | undefined>;
}

export interface Clock {
  now(): number;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured logs: a stable event name and fields; never bodies or credentials. */
export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

export const systemClock: Clock = { now: () => Date.now() };

export const silentLogger: Logger = { log() {} };

export function jsonLogger(minimum: LogLevel, write: (line: string) => void): Logger {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  const floor = order.indexOf(minimum);
  return {
    log(level, event, fields = {}) {
      if (order.indexOf(level) < floor) return;
      write(JSON.stringify({ time: new Date().toISOString(), level, event, ...fields }));
    },
  };
}

/**
 * DNS lookups the gateway itself makes (federation: discovery delegation, SSRF checks; the live
 * check of a domain's records, src/services/domain_check.ts). A name or type that does not exist
 * answers []; any other failure (timeout, SERVFAIL) throws.
 */
export interface DnsPort {
  /** Each TXT record as its character-strings; [] when the name or type does not exist. */
  txt(name: string): Promise<string[][]>;
  /** The name's A and AAAA addresses; [] when it has none. */
  addresses(name: string): Promise<string[]>;
  /** MX records, exchanges without the trailing dot. */
  mx(name: string): Promise<{ exchange: string; priority: number }[]>;
  /** SRV records (RFC 2782), targets without the trailing dot ("" for "."). */
  srv(name: string): Promise<{ name: string; port: number; priority: number; weight: number }[]>;
  /**
   * A records with their TTLs in seconds ([] when none): DNS blocklist answers, cached for as
   * long as their TTL says (services/spam_dnsbl.ts). Absent: `addresses` and a default TTL.
   */
  a?(name: string): Promise<{ address: string; ttl: number }[]>;
}

/**
 * Outbound HTTP(S) to a host that a user or a peer named (src/http/net_guard.ts calls it): the
 * adapter resolves the name, refuses it when any answer is not a public address (unless the
 * policy allows private ones), connects to exactly the address it checked, never follows a
 * redirect, and decides which CAs it trusts (hosts/process/outbound_http.ts).
 */
export type FetchPort = (request: Request, policy: OutboundPolicy) => Promise<Response>;

/**
 * How the bridge will carry mail to a remote domain, for checks at submission time. Only the
 * SHARP/1.3 question exists: the bridge sends over SHARP/1.3 to domains that publish
 * `_sharp._tcp` SRV records (bridge/smtp_out/worker.ts `routeFor`).
 */
export interface RoutePort {
  /** True when mail for `domain` goes over SHARP/1.3; false when not, or when DNS cannot tell. */
  sharp(domain: string): Promise<boolean>;
}

/** What federation needs from outside; without it the gateway neither sends nor discovers. */
export interface FederationPorts {
  dns: DnsPort;
  fetch: FetchPort;
}

/**
 * A static file the host ships beside the gateway (the API reference's renderer). `hash` names
 * this version in URLs, so browsers may keep it for good (`immutable`); `body` is read only when
 * a request wants the bytes.
 */
export interface StaticAsset {
  /** Hex SHA-256 of the content (URLs use its first 16 characters). */
  hash: string;
  contentType: string;
  body(): Promise<BodyInit>;
}

/**
 * Static files by name (src/routes/docs.ts `DOCS_RENDERER`). The gateway never reads files: a
 * Deno or Bun host answers from node_modules (hosts/process/static_assets.ts), a Worker from its static
 * assets binding (src/http/fetcher_assets.ts `fetcherAssets(env.ASSETS)`). Absent, or a name it lacks: the page that needs it says so instead.
 */
export interface AssetPort {
  get(name: string): Promise<StaticAsset | undefined>;
}

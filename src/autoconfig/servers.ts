/**
 * The mail services this server offers to clients, read from the configured listener ports: what
 * every autoconfiguration document (Thunderbird, Outlook, Apple) and the RFC 6186 SRV records
 * describe. One source, so a client is never told about a port nobody listens on.
 */
import type { Config } from "../config.ts";

export type ClientProtocol = "imap" | "pop3" | "smtp";
/** `SSL`: implicit TLS from the first byte (RFC 8314, preferred); `STARTTLS`: upgraded. */
export type SocketType = "SSL" | "STARTTLS";

export interface MailService {
  protocol: ClientProtocol;
  host: string;
  port: number;
  socket: SocketType;
}

/** The configuration a client-facing document needs: host name and listener ports. */
export type PortConfig = Pick<
  Config,
  | "hostname"
  | "imapsPort"
  | "imapPort"
  | "pop3sPort"
  | "pop3Port"
  | "submissionsPort"
  | "submissionPort"
>;

/**
 * Enabled services, implicit TLS before STARTTLS within each protocol (RFC 8314 section 3:
 * clients should prefer implicit TLS). A port of 0 is a listener that is off, and is left out.
 */
export function mailServices(config: PortConfig): MailService[] {
  const all: [ClientProtocol, number, SocketType][] = [
    ["imap", config.imapsPort, "SSL"],
    ["imap", config.imapPort, "STARTTLS"],
    ["pop3", config.pop3sPort, "SSL"],
    ["pop3", config.pop3Port, "STARTTLS"],
    ["smtp", config.submissionsPort, "SSL"],
    ["smtp", config.submissionPort, "STARTTLS"],
  ];
  return all.filter(([, port]) => port > 0).map(([protocol, port, socket]) => ({
    protocol,
    host: config.hostname,
    port,
    socket,
  }));
}

/** The preferred service of a protocol (implicit TLS when both are on), if any. */
export function preferred(services: MailService[], protocol: ClientProtocol) {
  return services.find((s) => s.protocol === protocol);
}

/** Escapes text for an XML element or attribute value (XML 1.0 section 2.4). */
export function xmlText(value: string | number): string {
  return String(value).replace(
    /[<>&"']/g,
    (ch) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[ch]!,
  );
}

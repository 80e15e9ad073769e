/**
 * Thunderbird's autoconfig document (Mozilla ISPDB "config-v1.1.xml"): Thunderbird asks
 * `https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=…` and then
 * `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`, and takes the first answer. The
 * username is the placeholder `%EMAILADDRESS%`, which the client fills in: Postern signs in by the
 * full address.
 */
import { type MailService, xmlText } from "./servers.ts";

const SERVER_TYPE = { imap: "imap", pop3: "pop3", smtp: "smtp" } as const;

function server(s: MailService): string {
  const tag = s.protocol === "smtp" ? "outgoingServer" : "incomingServer";
  return [
    `    <${tag} type="${SERVER_TYPE[s.protocol]}">`,
    `      <hostname>${xmlText(s.host)}</hostname>`,
    `      <port>${s.port}</port>`,
    `      <socketType>${s.socket}</socketType>`,
    // Plain password over the TLS the socket type guarantees (ISPDB "password-cleartext").
    `      <authentication>password-cleartext</authentication>`,
    `      <username>%EMAILADDRESS%</username>`,
    `    </${tag}>`,
  ].join("\n");
}

/** The clientConfig document for `domain`; incoming servers first, IMAP before POP3. */
export function thunderbirdConfig(domain: string, services: MailService[]): string {
  const incoming = services.filter((s) => s.protocol !== "smtp");
  const outgoing = services.filter((s) => s.protocol === "smtp");
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<clientConfig version="1.1">`,
    `  <emailProvider id="${xmlText(domain)}">`,
    `    <domain>${xmlText(domain)}</domain>`,
    `    <displayName>${xmlText(domain)} (Postern)</displayName>`,
    `    <displayShortName>${xmlText(domain)}</displayShortName>`,
    ...[...incoming, ...outgoing].map(server),
    `  </emailProvider>`,
    `</clientConfig>`,
    "",
  ].join("\n");
}

/**
 * An Apple configuration profile (a `.mobileconfig` property list) with one
 * `com.apple.mail.managed` payload: the account's address, its IMAP and SMTP servers, and no
 * password, so the device asks for it (an app password works). Unsigned: iOS and macOS show it
 * as "Unverified" but install it.
 */
import { type MailService, xmlText } from "./servers.ts";

export const MOBILECONFIG_TYPE = "application/x-apple-aspen-config";

type Plist = string | number | boolean | Plist[] | { [key: string]: Plist };

function plist(value: Plist, indent: string): string {
  if (typeof value === "string") return `${indent}<string>${xmlText(value)}</string>`;
  if (typeof value === "number") return `${indent}<integer>${value}</integer>`;
  if (typeof value === "boolean") return `${indent}<${value}/>`;
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    return [`${indent}<array>`, ...value.map((v) => plist(v, inner)), `${indent}</array>`]
      .join("\n");
  }
  return [
    `${indent}<dict>`,
    ...Object.entries(value).flatMap((
      [k, v],
    ) => [`${inner}<key>${xmlText(k)}</key>`, plist(v, inner)]),
    `${indent}</dict>`,
  ].join("\n");
}

/** Payload identifiers are reverse-DNS names; the UUIDs are fresh per download. */
export function mobileconfig(
  input: { address: string; displayName: string; imap: MailService; smtp: MailService },
  uuid: () => string,
): string {
  const { address, imap, smtp } = input;
  const domain = address.slice(address.lastIndexOf("@") + 1);
  const id = `${domain.split(".").reverse().join(".")}.postern.${address.replace(/[^\w.-]/g, "_")}`;
  const mail = {
    EmailAccountDescription: address,
    EmailAccountName: input.displayName || address,
    EmailAccountType: "EmailTypeIMAP",
    EmailAddress: address,
    IncomingMailServerAuthentication: "EmailAuthPassword",
    IncomingMailServerHostName: imap.host,
    IncomingMailServerPortNumber: imap.port,
    // UseSSL: TLS on this port (implicit or STARTTLS; Apple Mail negotiates by port).
    IncomingMailServerUseSSL: true,
    IncomingMailServerUsername: address,
    OutgoingMailServerAuthentication: "EmailAuthPassword",
    OutgoingMailServerHostName: smtp.host,
    OutgoingMailServerPortNumber: smtp.port,
    OutgoingMailServerUseSSL: true,
    OutgoingMailServerUsername: address,
    OutgoingPasswordSameAsIncomingPassword: true,
    PayloadDescription: `Mail account ${address}`,
    PayloadDisplayName: address,
    PayloadIdentifier: `${id}.mail`,
    PayloadType: "com.apple.mail.managed",
    PayloadUUID: uuid(),
    PayloadVersion: 1,
  };
  const profile = {
    PayloadContent: [mail],
    PayloadDescription: `Sets up ${address} in Mail`,
    PayloadDisplayName: `${domain} mail (Postern)`,
    PayloadIdentifier: id,
    PayloadRemovalDisallowed: false,
    PayloadType: "Configuration",
    PayloadUUID: uuid(),
    PayloadVersion: 1,
  };
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<plist version="1.0">`,
    plist(profile, ""),
    `</plist>`,
    "",
  ].join("\n");
}

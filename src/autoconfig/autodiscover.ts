/**
 * Outlook's "Plain Old XML" autodiscover (MS-OXDISCO / the Exchange 2006 outlook schemas): the
 * client POSTs `<Autodiscover><Request><EMailAddress>…` to `/autodiscover/autodiscover.xml` and
 * gets back one `Protocol` per server (IMAP, POP3, SMTP). The request is read without an XML
 * parser on purpose: it is a fixed two-level document, and a document type declaration is
 * refused outright, so no entity (XXE, "billion laughs") is ever expanded.
 */
import { parseAddress } from "../../schemas/address.ts";
import { type MailService, preferred, xmlText } from "./servers.ts";

export const AUTODISCOVER_MAX_BYTES = 8 * 1024;
const RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_NS =
  "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

export type AutodiscoverRequest =
  | { ok: true; address: string; domain: string }
  | { ok: false; error: string };

/** Reads the e-mail address out of a POX request body (already bounded in size). */
export function parseAutodiscoverRequest(body: string): AutodiscoverRequest {
  // XML 1.0 section 2.8: entities can only be declared in a DTD; without one there is nothing to
  // expand, and a request from Outlook never carries one.
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) {
    return { ok: false, error: "document type declarations are not accepted" };
  }
  const match = /<(?:[\w.-]+:)?EMailAddress\s*>([^<]{1,320})<\/(?:[\w.-]+:)?EMailAddress\s*>/
    .exec(body);
  if (!match) return { ok: false, error: "no EMailAddress in the request" };
  // Character references are the only escapes left in a DTD-less document: refuse them too.
  if (match[1].includes("&")) return { ok: false, error: "the EMailAddress is malformed" };
  const parsed = parseAddress(match[1].trim());
  if (!parsed.ok) return { ok: false, error: `the EMailAddress is malformed: ${parsed.error}` };
  return { ok: true, address: parsed.value.address, domain: parsed.value.domain };
}

function protocol(s: MailService, address: string): string {
  return [
    "      <Protocol>",
    `        <Type>${s.protocol.toUpperCase()}</Type>`,
    `        <Server>${xmlText(s.host)}</Server>`,
    `        <Port>${s.port}</Port>`,
    "        <DomainRequired>off</DomainRequired>",
    `        <LoginName>${xmlText(address)}</LoginName>`,
    "        <SPA>off</SPA>",
    // SSL on for both: Outlook then encrypts; Encryption says how (TLS = STARTTLS on the port).
    "        <SSL>on</SSL>",
    `        <Encryption>${s.socket === "SSL" ? "SSL" : "TLS"}</Encryption>`,
    "        <AuthRequired>on</AuthRequired>",
    ...(s.protocol === "smtp" ? ["        <UsePOPAuth>off</UsePOPAuth>"] : []),
    "      </Protocol>",
  ].join("\n");
}

/** The response for `address`: the preferred server of each protocol, IMAP first. */
export function autodiscoverResponse(address: string, services: MailService[]): string {
  const chosen = (["imap", "pop3", "smtp"] as const)
    .map((p) => preferred(services, p))
    .filter((s): s is MailService => s !== undefined);
  return [
    `<?xml version="1.0" encoding="utf-8"?>`,
    `<Autodiscover xmlns="${RESPONSE_NS}">`,
    `  <Response xmlns="${OUTLOOK_NS}">`,
    "    <Account>",
    "      <AccountType>email</AccountType>",
    "      <Action>settings</Action>",
    ...chosen.map((s) => protocol(s, address)),
    "    </Account>",
    "  </Response>",
    "</Autodiscover>",
    "",
  ].join("\n");
}

/** An error answer in the same schema (600 "Invalid Request", 603 unknown address). */
export function autodiscoverError(code: 600 | 603, message: string): string {
  return [
    `<?xml version="1.0" encoding="utf-8"?>`,
    `<Autodiscover xmlns="${RESPONSE_NS}">`,
    "  <Response>",
    `    <Error Time="00:00:00" Id="0">`,
    `      <ErrorCode>${code}</ErrorCode>`,
    `      <Message>${xmlText(message)}</Message>`,
    "      <DebugData />",
    "    </Error>",
    "  </Response>",
    "</Autodiscover>",
    "",
  ].join("\n");
}

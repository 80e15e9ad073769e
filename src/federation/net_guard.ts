/**
 * SSRF defence for everything federation fetches (discovery documents, JWKS, delivery
 * endpoints): https only, and no loopback, private, shared, link-local, multicast or
 * unspecified addresses (RFC 1918, RFC 6598, RFC 3927, RFC 4193, RFC 4291 section 2.5) unless
 * the operator allowed them. Host names are resolved through the DNS port and every address
 * must pass. (A resolver that answers differently to the fetch is outside this check.)
 */
import { parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";

/** The domain of an address, or undefined when it does not parse. */
export function domainOf(address: string): string | undefined {
  const parsed = parseAddress(address);
  return parsed.ok ? parsed.value.domain : undefined;
}

function v4Private(ip: string): boolean {
  const p = ip.split(".").map(Number);
  if (p.length !== 4 || p.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return true;
  const [a, b] = p;
  return a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 192 && b === 0 && p[2] === 0) || (a === 198 && (b === 18 || b === 19));
}

/** True for addresses a public federation peer can never have. */
export function isPrivateAddress(ip: string): boolean {
  const text = ip.replace(/^\[|\]$/g, "").toLowerCase();
  if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) return v4Private(text);
  const mapped = text.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/);
  if (mapped) return v4Private(mapped[1]);
  if (text === "::" || text === "::1") return true;
  return /^f[cd]/.test(text) || /^fe[89ab]/.test(text) || /^ff/.test(text);
}

const isIpLiteral = (host: string) => /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":");

/** Why `url` may not be fetched, or undefined when it may. */
export async function refuseUrl(deps: Deps, url: string): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (parsed.protocol !== "https:") return "federation URLs must be https";
  if (parsed.username || parsed.password) return "credentials in a URL are refused";
  if (deps.config.federationAllowPrivate) return undefined;
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback host refused";
  const addresses = isIpLiteral(host)
    ? [host]
    : await deps.federation!.dns.addresses(host).catch(() => []);
  if (addresses.length === 0) return `${host} has no address`;
  const bad = addresses.find(isPrivateAddress);
  return bad ? `${host} resolves to a non-public address (${bad})` : undefined;
}

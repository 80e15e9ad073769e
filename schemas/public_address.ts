/**
 * Which hosts a server-side request may reach (the SSRF rule every outbound fetch applies:
 * webhooks, federation discovery and delivery, MTA-STS policies). Only global unicast addresses
 * pass. Classification is ipaddr.js's (its ranges follow the IANA special-purpose registries,
 * RFC 6890) rather than our own regular expressions, which missed `[::ffff:7f00:1]`: WHATWG URL
 * prints an IPv4-mapped address in hex, and a dual-stack socket connects it to 127.0.0.1.
 * IPv4 must be `unicast` (not loopback, private, CGNAT, link-local, reserved, broadcast, …);
 * IPv6 must be `unicast` and inside 2000::/3 (RFC 4291 section 2.4), which also refuses
 * IPv4-mapped and IPv4-compatible forms (section 2.5.5), NAT64 (RFC 6052), 6to4 (RFC 3056),
 * Teredo (RFC 4380), site-local (RFC 3879) and unique-local (RFC 4193) addresses. Pure: the
 * runtime adapters resolve names and call `refuseAddresses` on every answer before connecting.
 */
import ipaddr from "ipaddr.js";

/** What a caller allows beyond public https/http targets. */
export interface OutboundPolicy {
  /** Loopback and private targets are allowed (tests, labs: the *_ALLOW_PRIVATE settings). */
  allowPrivate: boolean;
  /** Only `https:` URLs (federation, MTA-STS); webhooks also take `http:`. */
  httpsOnly?: boolean;
}

/** A target refused by policy (as opposed to one that is merely unreachable). */
export class RefusedTarget extends Error {
  override name = "RefusedTarget";
}

const GLOBAL_UNICAST = ipaddr.parseCIDR("2000::/3");

/** An IP literal's text without the URL brackets, or undefined when `host` is a name. */
export function ipLiteral(host: string): string | undefined {
  const text = host.replace(/^\[|\]$/g, "");
  return ipaddr.IPv6.isValid(text) || ipaddr.IPv4.isValidFourPartDecimal(text) ? text : undefined;
}

/** Why `ip` is not a public address (its range, e.g. "loopback", "ipv4Mapped"), or undefined. */
export function nonPublicRange(ip: string): string | undefined {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // parse() also reads 2130706433, 0177.0.0.1 and 0x7f.1 as the IPv4 address they name.
    address = ipaddr.parse(ip.replace(/^\[|\]$/g, ""));
  } catch {
    return "not an address";
  }
  const range = address.range();
  if (range !== "unicast") return range;
  if (address.kind() === "ipv6" && !(address as ipaddr.IPv6).match(GLOBAL_UNICAST)) {
    return "not global unicast";
  }
  return undefined;
}

/** RFC 6761 `localhost`, mDNS `.local` (RFC 6762), `.home.arpa` (RFC 8375), `.internal`. */
export function isInternalName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return name === "localhost" || /\.(localhost|local|internal|home\.arpa)$/.test(name);
}

/**
 * Why `host` may not be reached at `addresses` (its IP literal, or every address its name
 * resolved to: one inside is enough to refuse, since the connection could take any), or undefined.
 */
export function refuseAddresses(host: string, addresses: string[]): string | undefined {
  for (const address of addresses) {
    const range = nonPublicRange(address);
    if (!range) continue;
    return address === host
      ? `${host} is a non-public address (${range})`
      : `${host} resolves to a non-public address (${address}, ${range})`;
  }
  return undefined;
}

/**
 * Why `raw` may not be requested, judged on the URL's text (scheme, credentials, an internal
 * name, an IP literal that is not public), or undefined. Names still need `refuseAddresses`
 * on what they resolve to.
 */
export function refuseUrl(raw: string, policy: OutboundPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not a valid URL";
  }
  if (policy.httpsOnly ? url.protocol !== "https:" : !/^https?:$/.test(url.protocol)) {
    return policy.httpsOnly ? "the URL must be https" : "the URL must be http(s)";
  }
  if (url.username || url.password) return "the URL must not carry credentials";
  if (policy.allowPrivate) return undefined;
  const host = url.hostname;
  if (isInternalName(host)) return `the URL points to a private or loopback host (${host})`;
  const literal = ipLiteral(host);
  return literal ? refuseAddresses(literal, [literal]) : undefined;
}

/**
 * The addresses a request to `raw` may connect to: its IP literal, or every answer `resolve`
 * gives for its name, each checked against the policy. Throws `RefusedTarget` when the policy
 * refuses the URL or an answer, and an Error when the name has no address.
 */
export async function permittedAddresses(
  raw: string,
  policy: OutboundPolicy,
  resolve: (name: string) => Promise<string[]>,
): Promise<string[]> {
  const refused = refuseUrl(raw, policy);
  if (refused) throw new RefusedTarget(refused);
  const host = new URL(raw).hostname;
  const literal = ipLiteral(host);
  const addresses = literal ? [literal] : await resolve(host).catch(() => [] as string[]);
  if (addresses.length === 0) throw new Error(`${host} has no address`);
  const why = policy.allowPrivate ? undefined : refuseAddresses(literal ?? host, addresses);
  if (why) throw new RefusedTarget(why);
  return addresses;
}

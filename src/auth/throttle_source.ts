/**
 * The "source" a sign-in throttle counts: an IPv4 address as is (an IPv4-mapped IPv6 address,
 * `::ffff:a.b.c.d` as a dual-stack socket reports it, counts as that IPv4 address), and an IPv6
 * address as its /64 prefix. A /64 is what one subscriber or one host usually gets (RFC 6177),
 * so counting single IPv6 addresses would give an attacker 2^64 fresh sources. Anything else
 * (`unknown`, a name a proxy passed along) is counted under its lower-cased text. Parsing is
 * ipaddr.js's, as for the SSRF rule (schemas/public_address.ts). Pure.
 */
import ipaddr from "ipaddr.js";

export function throttleSource(ip: string): string {
  const text = ip.trim().toLowerCase();
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return text;
  const bare = text.replace(/^\[|\]$/g, "");
  if (!ipaddr.IPv6.isValid(bare)) return text.slice(0, 64);
  const address = ipaddr.IPv6.parse(bare);
  // ::ffff:0:0/96 (RFC 4291 section 2.5.5.2) is an IPv4 client on a dual-stack socket.
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  return `${address.parts.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

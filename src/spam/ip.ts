/**
 * Client address helpers for the spam checks: the reversed query name of a DNS blocklist
 * (RFC 5782 section 2.1 for IPv4, 2.4 for IPv6 nibbles), the network greylisting keys on (an
 * IPv4 /24 or an IPv6 /64, as Postgrey and mox do, because large senders retry from a
 * neighbouring address), and CIDR matching for configured networks.
 */

/** The four octets of a dotted IPv4 address, or undefined. */
function v4(ip: string): number[] | undefined {
  const m = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(ip);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** The 8 16-bit groups of an IPv6 address, or undefined. */
function v6(ip: string): number[] | undefined {
  if (!ip.includes(":") || !/^[0-9a-f:]+$/i.test(ip)) return undefined;
  const [head, tail, extra] = ip.split("::");
  if (extra !== undefined) return undefined;
  const part = (s: string | undefined) => (s ? s.split(":") : []);
  const h = part(head), t = part(tail);
  const missing = 8 - h.length - t.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const groups = [...h, ...Array(tail === undefined ? 0 : missing).fill("0"), ...t];
  if (groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

/** RFC 5782: the name to look up in `zone` for `ip`, or undefined for a malformed address. */
export function dnsblQuery(ip: string, zone: string): string | undefined {
  const four = v4(ip);
  if (four) return `${[...four].reverse().join(".")}.${zone}`;
  const groups = v6(ip);
  if (!groups) return undefined;
  const nibbles = groups.flatMap((g) => g.toString(16).padStart(4, "0").split(""));
  return `${nibbles.reverse().join(".")}.${zone}`;
}

/** The network a greylisting triplet keys on: `a.b.c.0/24`, or the IPv6 /64. */
export function greyNetwork(ip: string): string {
  const four = v4(ip);
  if (four) return `${four[0]}.${four[1]}.${four[2]}.0/24`;
  const groups = v6(ip);
  if (!groups) return ip;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** True when `ip` lies in one of `cidrs` (`10.0.0.0/8`, `::1/128`, or a bare address). */
export function inNetworks(ip: string, cidrs: readonly string[]): boolean {
  const four = v4(ip);
  const groups = four ? undefined : v6(ip);
  const bits = four
    ? four.flatMap((o) => o.toString(2).padStart(8, "0").split(""))
    : groups?.flatMap((g) => g.toString(2).padStart(16, "0").split(""));
  if (!bits) return false;
  for (const cidr of cidrs) {
    const [base, len] = cidr.split("/");
    const baseFour = v4(base);
    const baseGroups = baseFour ? undefined : v6(base);
    if (!!four !== !!baseFour || (!baseFour && !baseGroups)) continue;
    const baseBits = baseFour
      ? baseFour.flatMap((o) => o.toString(2).padStart(8, "0").split(""))
      : baseGroups!.flatMap((g) => g.toString(2).padStart(16, "0").split(""));
    const n = len === undefined ? baseBits.length : Number(len);
    if (!Number.isInteger(n) || n < 0 || n > baseBits.length) continue;
    if (bits.slice(0, n).join("") === baseBits.slice(0, n).join("")) return true;
  }
  return false;
}

/** The entries of a comma-separated list setting. */
export const listSetting = (value: string): string[] =>
  value.split(",").map((s) => s.trim()).filter(Boolean);

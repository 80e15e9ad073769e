/**
 * The "source" a sign-in throttle counts: an IPv4 address as is (an IPv4-mapped IPv6 address,
 * `::ffff:a.b.c.d` as a dual-stack socket reports it, counts as that IPv4 address), and an IPv6
 * address as its /64 prefix (RFC 4291 section 2.2 text forms, with `::` and an embedded IPv4
 * tail). A /64 is what one subscriber or one host usually gets (RFC 6177), so counting single
 * IPv6 addresses would give an attacker 2^64 fresh sources. Anything else (`unknown`, a name a
 * proxy passed along) is counted under its lower-cased text. Pure.
 */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4(text: string): number[] | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function ipv6Groups(text: string): number[] | undefined {
  let body = text.replace(/^\[|\]$/g, "").replace(/%.*$/, ""); // brackets, zone id
  // An IPv4 tail (`::ffff:192.0.2.1`) is the last two groups.
  const tail = /(?:^|:)(\d{1,3}(?:\.\d{1,3}){3})$/.exec(body);
  if (tail) {
    const v4 = ipv4(tail[1]);
    if (!v4) return undefined;
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    body = body.slice(0, body.length - tail[1].length) +
      `${hex(v4[0], v4[1])}:${hex(v4[2], v4[3])}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => s === "" ? [] : s.split(":");
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

export function throttleSource(ip: string): string {
  const text = ip.trim().toLowerCase();
  if (ipv4(text)) return text;
  const groups = ipv6Groups(text);
  if (!groups) return text.slice(0, 64);
  // ::ffff:0:0/96 (RFC 4291 section 2.5.5.2) is an IPv4 client on a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join(".");
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

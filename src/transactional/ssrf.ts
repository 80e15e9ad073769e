/**
 * Where a webhook may point: http(s) only, no credentials in the URL, and — unless the
 * operator allows it (`POSTERN_WEBHOOK_ALLOW_PRIVATE`, tests) — no loopback, private,
 * link-local, CGNAT, multicast or unspecified address, checked on the literal host and, at send
 * time, on every address the name resolves to (so DNS cannot point a public name inside).
 */

function ipv4Private(ip: string): boolean {
  const p = ip.split(".").map(Number);
  if (p.length !== 4 || p.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return false;
  const [a, b] = p;
  return a === 0 || a === 10 || a === 127 || (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127) || a >= 224 || (a === 192 && b === 0 && p[2] === 0) ||
    (a === 198 && (b === 18 || b === 19));
}

function ipv6Private(ip: string): boolean {
  const x = ip.toLowerCase().replace(/^\[|\]$/g, "");
  if (x === "::" || x === "::1") return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(x);
  if (mapped) return ipv4Private(mapped[1]);
  return /^(fc|fd|fe8|fe9|fea|feb|ff)/.test(x);
}

export const isIpLiteral = (host: string) =>
  /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":");

/** True for an address a webhook must not reach unless allowed. */
export function isPrivateAddress(ip: string): boolean {
  return ip.includes(":") ? ipv6Private(ip) : ipv4Private(ip);
}

/** A problem with the URL, or undefined when it may be used. */
export function checkWebhookUrl(raw: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not a valid URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "the URL must be http(s)";
  if (url.username || url.password) return "the URL must not carry credentials";
  if (allowPrivate) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".internal")) {
    return "the URL points to a private or loopback host";
  }
  if (isIpLiteral(host) && isPrivateAddress(host)) {
    return "the URL points to a private or loopback address";
  }
  return undefined;
}

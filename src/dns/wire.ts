/**
 * The DNS message format (RFC 1035 §4) for the record types a mail server looks up: a query
 * encoder and a response decoder, pure and bounded, used by the DNS-over-HTTPS resolver
 * (dns/doh.ts; RFC 8484 carries exactly these messages). The decoder trusts nothing it reads:
 * every length is checked against the message, compression pointers (§4.1.4) must point
 * backwards and are followed at most 64 times, names stay within 255 octets (§2.3.4), and a
 * malformed message is a `DnsWireError`, never a crash or an endless loop.
 */

export const RR = {
  A: 1,
  CNAME: 5,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
} as const;
export type RecordType = keyof typeof RR;

/** RFC 1035 §4.1.1 RCODE values the resolver tells apart. */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export class DnsWireError extends Error {}

export type RData =
  | { type: "A" | "AAAA"; address: string }
  | { type: "CNAME" | "PTR"; name: string }
  | { type: "MX"; priority: number; exchange: string }
  | { type: "TXT"; strings: string[] }
  | { type: "SRV"; priority: number; weight: number; port: number; name: string }
  | { type: "OTHER"; code: number };

export interface ResourceRecord {
  /** The owner name, without the final dot, as the server wrote it. */
  name: string;
  ttl: number;
  data: RData;
}

export interface DnsResponse {
  id: number;
  rcode: number;
  /** Answer section only: authority and additional records are not needed here. */
  answers: ResourceRecord[];
}

const MAX_NAME = 255;
const MAX_LABEL = 63;
const MAX_POINTERS = 64;

/** The query for `name`/`type` (RD set, one question, class IN); id 0 as RFC 8484 §4.1 advises. */
export function encodeQuery(name: string, type: RecordType, id = 0): Uint8Array {
  const labels = name.replace(/\.$/, "").split(".").filter((l) => l.length > 0);
  const encoded = labels.map((l) => new TextEncoder().encode(l));
  const nameLength = encoded.reduce((n, l) => n + l.length + 1, 1);
  if (nameLength > MAX_NAME) throw new DnsWireError(`name too long: ${name}`);
  const out = new Uint8Array(12 + nameLength + 4);
  const view = new DataView(out.buffer);
  view.setUint16(0, id);
  view.setUint16(2, 0x0100); // RD
  view.setUint16(4, 1); // QDCOUNT
  let at = 12;
  for (const l of encoded) {
    if (l.length > MAX_LABEL) throw new DnsWireError(`label too long in ${name}`);
    out[at++] = l.length;
    out.set(l, at);
    at += l.length;
  }
  out[at++] = 0;
  view.setUint16(at, RR[type]);
  view.setUint16(at + 2, 1); // IN
  return out;
}

/** Reads a (possibly compressed) name at `offset`; returns it and the offset after it. */
function readName(msg: Uint8Array, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let at = offset;
  let next = -1;
  let jumps = 0;
  let length = 1;
  for (;;) {
    if (at >= msg.length) throw new DnsWireError("name runs past the message");
    const len = msg[at];
    if ((len & 0xc0) === 0xc0) {
      if (at + 1 >= msg.length) throw new DnsWireError("truncated compression pointer");
      const target = ((len & 0x3f) << 8) | msg[at + 1];
      // Pointers go backwards (to a name already written), so they cannot loop forever.
      if (target >= at || ++jumps > MAX_POINTERS) throw new DnsWireError("bad compression pointer");
      if (next < 0) next = at + 2;
      at = target;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsWireError("unknown label type");
    if (len === 0) break;
    length += len + 1;
    if (length > MAX_NAME) throw new DnsWireError("name longer than 255 octets");
    if (at + 1 + len > msg.length) throw new DnsWireError("label runs past the message");
    labels.push(new TextDecoder().decode(msg.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  return { name: labels.join("."), next: next < 0 ? at + 1 : next };
}

function ipv4(bytes: Uint8Array): string {
  return Array.from(bytes).join(".");
}

/** RFC 5952 text form: lowercase, no leading zeros, the longest run of 2+ zero groups as "::". */
function ipv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) bestStart = i, bestLen = j - i;
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

function readRData(msg: Uint8Array, type: number, start: number, length: number): RData {
  const end = start + length;
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const nameWithin = (offset: number) => {
    const { name, next } = readName(msg, offset);
    if (next > end) throw new DnsWireError("name runs past its record");
    return { name, next };
  };
  switch (type) {
    case RR.A:
      if (length !== 4) throw new DnsWireError("A record of the wrong length");
      return { type: "A", address: ipv4(msg.subarray(start, end)) };
    case RR.AAAA:
      if (length !== 16) throw new DnsWireError("AAAA record of the wrong length");
      return { type: "AAAA", address: ipv6(msg.subarray(start, end)) };
    case RR.CNAME:
    case RR.PTR:
      return { type: type === RR.CNAME ? "CNAME" : "PTR", name: nameWithin(start).name };
    case RR.MX:
      if (length < 3) throw new DnsWireError("MX record too short");
      return { type: "MX", priority: view.getUint16(start), exchange: nameWithin(start + 2).name };
    case RR.SRV:
      if (length < 7) throw new DnsWireError("SRV record too short");
      return {
        type: "SRV",
        priority: view.getUint16(start),
        weight: view.getUint16(start + 2),
        port: view.getUint16(start + 4),
        name: nameWithin(start + 6).name,
      };
    case RR.TXT: {
      const strings: string[] = [];
      for (let at = start; at < end;) {
        const len = msg[at];
        if (at + 1 + len > end) throw new DnsWireError("TXT string runs past its record");
        strings.push(new TextDecoder().decode(msg.subarray(at + 1, at + 1 + len)));
        at += 1 + len;
      }
      return { type: "TXT", strings };
    }
    default:
      return { type: "OTHER", code: type };
  }
}

/** Decodes a response; throws `DnsWireError` on anything malformed. */
export function decodeResponse(msg: Uint8Array): DnsResponse {
  if (msg.length < 12) throw new DnsWireError("shorter than a DNS header");
  const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const id = view.getUint16(0);
  const flags = view.getUint16(2);
  if ((flags & 0x8000) === 0) throw new DnsWireError("not a response (QR is 0)");
  const qdcount = view.getUint16(4);
  const ancount = view.getUint16(6);
  let at = 12;
  for (let i = 0; i < qdcount; i++) {
    at = readName(msg, at).next + 4;
    if (at > msg.length) throw new DnsWireError("question runs past the message");
  }
  const answers: ResourceRecord[] = [];
  for (let i = 0; i < ancount; i++) {
    const { name, next } = readName(msg, at);
    if (next + 10 > msg.length) throw new DnsWireError("record header runs past the message");
    const type = view.getUint16(next);
    const ttl = view.getUint32(next + 4);
    const length = view.getUint16(next + 8);
    const start = next + 10;
    if (start + length > msg.length) throw new DnsWireError("record data runs past the message");
    answers.push({ name, ttl, data: readRData(msg, type, start, length) });
    at = start + length;
  }
  return { id, rcode: flags & 0x000f, answers };
}

/**
 * The answers for `name` of `type`, following the CNAME chain inside the answer section
 * (RFC 1034 §3.6.2) at most 8 links deep; names compare case-insensitively (RFC 4343).
 */
export function answersFor(
  response: DnsResponse,
  name: string,
  type: RecordType,
): { records: RData[]; ttl: number } {
  let owner = name.replace(/\.$/, "").toLowerCase();
  let ttl = Infinity;
  for (let hops = 0; hops <= 8; hops++) {
    const here = response.answers.filter((r) => r.name.toLowerCase() === owner);
    const matching = here.filter((r) => r.data.type === type);
    if (matching.length > 0) {
      for (const r of matching) ttl = Math.min(ttl, r.ttl);
      return { records: matching.map((r) => r.data), ttl };
    }
    const alias = here.find((r) => r.data.type === "CNAME");
    if (!alias || alias.data.type !== "CNAME") break;
    ttl = Math.min(ttl, alias.ttl);
    owner = alias.data.name.toLowerCase();
  }
  return { records: [], ttl: ttl === Infinity ? 0 : ttl };
}

/**
 * DKIM signing of outbound mail (RFC 6376; Ed25519 per RFC 8463) with mailauth: every message is
 * signed for the domain of its From header (the identifier DMARC aligns with, RFC 7489 section
 * 3.1) with each of that domain's keys — RSA-SHA256 and Ed25519-SHA256, so a verifier without
 * Ed25519 still finds a signature it knows (RFC 8463 section 5). Keys come from the gateway and
 * are cached for a few minutes, domains without keys too.
 */
import { Buffer } from "node:buffer";
// Loaded on the first signature, so an idle server does not carry mailauth.
const mailauth = () => import("mailauth");
import addressparser from "nodemailer/lib/addressparser";
import type { DkimSigningKeys } from "../../schemas/bridge_outbox.ts";

/** The domain of the first address in the From header, lower-cased; undefined if none. */
export function fromDomain(raw: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(raw.subarray(0, 256 * 1024));
  const end = text.search(/\r?\n\r?\n/);
  const head = (end >= 0 ? text.slice(0, end) : text).replace(/\r?\n[ \t]/g, " ");
  const line = head.split(/\r?\n/).find((l) => /^from\s*:/i.test(l));
  if (!line) return undefined;
  const [first] = addressparser(line.slice(line.indexOf(":") + 1), { flatten: true });
  const at = first?.address?.lastIndexOf("@") ?? -1;
  if (!first || at < 0) return undefined;
  return first.address.slice(at + 1).toLowerCase().replace(/^\[|\]$/g, "") || undefined;
}

export type KeyFetcher = (domain: string) => Promise<DkimSigningKeys | undefined>;

export interface SignResult {
  bytes: Uint8Array;
  /** d= of the signatures, when the message was signed. */
  domain?: string;
  selectors: string[];
}

/**
 * The DKIM-Signature fields (CRLF-terminated) of `raw` for `domain`, one per key, by mailauth.
 * Pure CPU (RSA signing is most of it), so a runtime may run it on another thread
 * (hosts/process/mailauth_thread.ts); throws when mailauth signs nothing.
 */
export async function dkimSignatures(
  raw: Uint8Array,
  domain: string,
  keys: DkimSigningKeys,
): Promise<string> {
  const result = await (await mailauth()).dkimSign(
    Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength),
    {
      signingDomain: domain,
      selector: keys.keys[0].selector,
      privateKey: keys.keys[0].privateKeyPem,
      canonicalization: "relaxed/relaxed",
      signatureData: keys.keys.map((k) => ({
        signingDomain: domain,
        selector: k.selector,
        privateKey: k.privateKeyPem,
        algorithm: k.algorithm,
        canonicalization: "relaxed/relaxed",
      })),
    },
  );
  if (!result.signatures) {
    const why = result.errors?.map((e) => e.err?.message ?? String(e.err)).join("; ") ??
      "unknown";
    throw new Error(`DKIM signing failed for ${domain}: ${why}`);
  }
  return result.signatures;
}

export type SignatureMaker = typeof dkimSignatures;

export class DkimSigner {
  private readonly cache = new Map<
    string,
    { keys: DkimSigningKeys | undefined; until: number }
  >();

  constructor(
    private readonly fetchKeys: KeyFetcher,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
    private readonly makeSignatures: SignatureMaker = dkimSignatures,
  ) {}

  /** The domain's signing keys (cached; also the ARC sealer's, arc_seal.ts). */
  async keysFor(domain: string): Promise<DkimSigningKeys | undefined> {
    const hit = this.cache.get(domain);
    if (hit && hit.until > this.now()) return hit.keys;
    // A failure to reach the gateway throws: the caller defers rather than send unsigned.
    const keys = await this.fetchKeys(domain);
    this.cache.set(domain, { keys, until: this.now() + this.ttlMs });
    return keys;
  }

  /** The message with DKIM-Signature fields prepended, or unchanged when there is no key. */
  async sign(raw: Uint8Array): Promise<SignResult> {
    const domain = fromDomain(raw);
    const keys = domain ? await this.keysFor(domain) : undefined;
    if (!domain || !keys || keys.keys.length === 0) return { bytes: raw, selectors: [] };
    const signatures = await this.makeSignatures(raw, domain, keys);
    const head = new TextEncoder().encode(signatures);
    const out = new Uint8Array(head.byteLength + raw.byteLength);
    out.set(head, 0);
    out.set(raw, head.byteLength);
    return { bytes: out, domain, selectors: keys.keys.map((k) => k.selector) };
  }
}

/**
 * ARC sealing of forwarded mail (RFC 8617 section 5.1) with mailauth, at the step where the
 * outbound worker DKIM-signs: the gateway hands each forwarded outbox item the verdicts its MX
 * saw and the chain status it found (`OutboxItem.arc`, src/forwarding/forward.ts); the set is
 * signed with the forwarding domain's DKIM key — RSA when it has one, because Ed25519 ARC
 * signatures are not yet understood by the large receivers (RFC 8463 is for DKIM). A message
 * whose newest seal says cv=fail, or whose chain is full (50 sets), is sent unsealed: sealing
 * cannot help it, and the refusal is logged rather than holding the mail back.
 */
import { Buffer } from "node:buffer";
import type { ArcSealRequest, DkimSigningKeys } from "../../schemas/bridge_outbox.ts";

// Loaded on the first seal, as for DKIM signing (dkim.ts).
const mailauth = () => import("mailauth");

export type SealOutcome = { headers: string } | { refused: string };

/**
 * The ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results, CRLF-terminated)
 * to prepend to `raw`, or why there is none. Pure CPU: a runtime may run it on another thread
 * (hosts/process/mailauth_thread.ts).
 */
export async function arcSealHeaders(
  raw: Uint8Array,
  request: ArcSealRequest,
  keys: DkimSigningKeys,
  signTime?: number,
): Promise<SealOutcome> {
  const key = keys.keys.find((k) => k.algorithm === "rsa-sha256") ?? keys.keys[0];
  if (!key) return { refused: `${request.domain} has no DKIM key to seal with` };
  const result = await (await mailauth()).createSeal(
    Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength),
    {
      seal: {
        signingDomain: request.domain,
        selector: key.selector,
        privateKey: key.privateKeyPem,
        algorithm: key.algorithm,
        cv: request.cv,
        authResults: request.authResults,
        ...(signTime ? { signTime } : {}),
      },
    },
  );
  if (result.headers.length === 0) {
    const why = result.errors.map((e) => e.err?.message ?? String(e.err)).join("; ");
    return { refused: why || "mailauth made no ARC set" };
  }
  return { headers: result.headers.map((h) => h.replace(/\r?\n/g, "\r\n")).join("\r\n") + "\r\n" };
}

export type SealMaker = typeof arcSealHeaders;

/** `raw` with `headers` in front. */
export function prepend(headers: string, raw: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(headers);
  const out = new Uint8Array(head.byteLength + raw.byteLength);
  out.set(head, 0);
  out.set(raw, head.byteLength);
  return out;
}

/**
 * What a delivery tells the gateway about TLS (RFC 8460 section 4.3), for the recipient
 * domain's daily TLS report: the policy that applied (an MTA-STS policy in enforce or testing
 * mode, else none found), the MX host, and `success` or the result type of a failure, told from
 * the TLS error (certificate expired, names another host, not trusted) or from a server that
 * would not start TLS.
 */
import type { TlsSessionResult } from "../../schemas/bridge_outbox.ts";
import type { MtaStsPolicy } from "./mta_sts.ts";

export type TlsPolicy = Pick<TlsSessionResult, "policyType" | "policyDomain" | "policyString">;

/** The policy part of a domain's results. */
export function tlsPolicyOf(domain: string, policy: MtaStsPolicy | undefined): TlsPolicy {
  if (!policy || policy.mode === "none") {
    return { policyType: "no-policy-found", policyDomain: domain, policyString: [] };
  }
  return {
    policyType: "sts",
    policyDomain: domain,
    policyString: [
      "version: STSv1",
      `mode: ${policy.mode}`,
      ...policy.mx.map((mx) => `mx: ${mx}`),
      `max_age: ${policy.maxAgeSeconds}`,
    ],
  };
}

/**
 * The result type of a connection failure, or undefined when it was not about TLS (a refused
 * connection, a timeout): those are no TLS session at all.
 */
export function tlsFailureType(message: string, verify: boolean): string | undefined {
  if (/CERT_HAS_EXPIRED|certificate has expired/i.test(message)) return "certificate-expired";
  if (/ALTNAME|Hostname\/IP does not match|host mismatch/i.test(message)) {
    return "certificate-host-mismatch";
  }
  if (
    /SELF_SIGNED|self[- ]signed|UNABLE_TO_(GET_ISSUER|VERIFY)|unable to verify|not trusted/i.test(
      message,
    )
  ) {
    return "certificate-not-trusted";
  }
  if (/STARTTLS|ETLS/i.test(message)) {
    return verify ? "starttls-not-supported" : "validation-failure";
  }
  return undefined;
}

/**
 * The SMTP session's backend over the gateway's bridge API: recipient checks at RCPT time
 * (the gateway decides what is local: no open relay), AUTH against passwords and app passwords,
 * and hand-in of the message with a Received trace field (RFC 5321 section 4.4) prepended. Mail
 * from other servers is first authenticated (inbound_auth.ts: SPF, DKIM, DMARC, ARC): the
 * Authentication-Results field goes on top, the verdicts into the message's JSON form, DMARC
 * quarantine into Junk and DMARC reject into a 550 5.7.1 with nothing stored. A gateway that
 * cannot be reached turns into 4xx replies, never a 250. A submission the gateway recognises by
 * its Idempotency-Key field as a retry gets 250 with nothing sent again.
 */
import type { Resolver } from "../dns/resolver.ts";
import { GatewayClient, GatewayError } from "../gateway_client.ts";
import type { DeliveryResult, Envelope, Recipient, SmtpBackend, Verdict } from "./backend.ts";
import {
  envelopeKey,
  envelopeOnlyMessage,
  EnvelopeVerdicts,
  verdictDependsOnEnvelopeOnly,
} from "./envelope_verdicts.ts";
import {
  authenticateInbound,
  type AuthVerdict,
  dmarcDisposition,
  stripOwnAuthResults,
  verdictJson,
} from "./inbound_auth.ts";
import { RecipientVerdicts } from "./recipient_verdicts.ts";
import { type ReplySpec, SmtpError } from "./reply.ts";

export interface GatewayBackendOptions {
  /**
   * DNS for authenticating inbound mail. Absent: MX mail is handed in unauthenticated (no
   * Authentication-Results, no DMARC policy), as before this option existed.
   */
  resolver?: Resolver;
  /** Runs the checks (another thread's, say); default: authenticateInbound here. */
  authenticate?: typeof authenticateInbound;
  /** Our authserv-id (RFC 8601 section 2.5); default: the hostname passed to the constructor. */
  authservId?: string;
  /** [0, 1) source for DMARC pct sampling (tests); Math.random by default. */
  random?: () => number;
  /** Called with each verdict (e.g. for a structured log line). */
  onVerdict?(envelope: Envelope, verdict: AuthVerdict): void;
  /**
   * How long a verdict that depends on the envelope alone (envelope_verdicts.ts) is reused by
   * later messages of the same client address, HELO and MAIL FROM; 0 (the default): every
   * message is checked in full after DATA.
   */
  envelopeVerdictMs?: number;
  /**
   * How long an acceptance of a local recipient of MX mail is reused by later RCPT commands
   * (recipient_verdicts.ts); 0 (the default): every RCPT asks the gateway.
   */
  recipientVerdictMs?: number;
}

const encoder = new TextEncoder();

const reply = (code: number, enhanced: string, text: string): ReplySpec => ({
  code,
  enhanced,
  text,
});

function refusal(
  code: string | undefined,
  temporary: boolean | undefined,
  reason?: string,
): ReplySpec {
  // RFC 6647 section 2.1 (greylisting) and rate limits: "try again later", policy-related.
  if (code === "greylisted" || code === "rate_limited") {
    return reply(451, "4.7.1", reason ?? "try again later");
  }
  if (temporary) return reply(452, "4.2.2", reason ?? "mailbox temporarily unavailable");
  switch (code) {
    case "relay_denied":
      return reply(550, "5.7.1", "relaying denied");
    // RFC 5321 section 4.2.3: 553 "mailbox name not allowed"; RFC 3463 X.1.3 bad syntax.
    case "sharp_unsupported_recipient":
      return reply(553, "5.1.3", reason ?? "SHARP/1.3 cannot carry this address");
    case "no_such_recipient":
      return reply(550, "5.1.1", "no such mailbox here");
    // RFC 5429 section 2.1.1: a Sieve reject/ereject, with the script's reason.
    case "rejected_by_recipient":
      return reply(550, "5.7.1", reason ?? "rejected by the recipient");
    // Issue 21 item 1: the spam score reached the recipient's reject threshold.
    case "spam_rejected":
      return reply(550, "5.7.1", (reason ?? "message refused as spam").slice(0, 400));
    case "quota_exceeded":
      return reply(452, "4.2.2", "mailbox full");
    case "message_too_large":
      return reply(552, "5.3.4", "message too large");
    default:
      return reply(550, "5.1.0", reason ?? "recipient refused");
  }
}

/** RFC 5321 section 4.4 trace field; `with` per RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA). */
export function receivedField(envelope: Envelope, hostname: string, now: Date): string {
  const protocol = `ESMTP${envelope.tls ? "S" : ""}${envelope.authenticatedAs ? "A" : ""}`;
  const helo = envelope.helo.replace(/[^\x21-\x7e]/g, "") || "unknown";
  const id = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  const rcpt = envelope.rcptTo.length === 1 ? `\r\n\tfor <${envelope.rcptTo[0].address}>` : "";
  return `Received: from ${helo} ([${envelope.clientIp}])\r\n\tby ${hostname} (Postern) with ${protocol} id ${id}${rcpt};\r\n\t${
    now.toUTCString().replace("GMT", "+0000")
  }\r\n`;
}

function asSmtpError(e: unknown): never {
  if (e instanceof GatewayError && !e.temporary) {
    if (e.code === "sender_not_allowed") {
      throw new SmtpError(reply(550, "5.7.1", "sender address not allowed for this account"));
    }
    // An address SHARP/1.3 cannot carry (src/services/sharp_route.ts): RFC 3463 X.1.3 / X.1.7.
    if (e.code === "sharp_unsupported_recipient" || e.code === "sharp_unsupported_sender") {
      const enhanced = e.code === "sharp_unsupported_sender" ? "5.1.7" : "5.1.3";
      throw new SmtpError(reply(553, enhanced, e.message.slice(0, 400)));
    }
    if (e.code === "message_too_large" || e.status === 413) {
      throw new SmtpError(reply(552, "5.3.4", "message too large"));
    }
    // A reused Idempotency-Key with another envelope, or a malformed key: permanent.
    if (e.status === 409 || e.status === 400) {
      throw new SmtpError(reply(554, "5.6.0", `message refused: ${e.message}`.slice(0, 200)));
    }
    if (e.status === 422) {
      throw new SmtpError(reply(554, "5.6.0", `message refused: ${e.message}`.slice(0, 200)));
    }
  }
  throw e; // temporary or unknown: the session answers 451 4.3.0
}

/** Mail our own users submit is not checked; everything else is (MX, and MX with AUTH). */
const isSubmission = (envelope: Envelope) =>
  envelope.mode === "submission" && !!envelope.authenticatedAs;

export class GatewaySmtpBackend implements SmtpBackend {
  private readonly envelopeVerdicts: EnvelopeVerdicts;
  private readonly recipientVerdicts: RecipientVerdicts;

  constructor(
    private readonly gateway: GatewayClient,
    private readonly hostname: string,
    private readonly options: GatewayBackendOptions = {},
  ) {
    this.envelopeVerdicts = new EnvelopeVerdicts(options.envelopeVerdictMs ?? 0);
    this.recipientVerdicts = new RecipientVerdicts(options.recipientVerdictMs ?? 0);
  }

  async checkRecipient(envelope: Envelope, rcpt: Recipient): Promise<Verdict> {
    const ask = () =>
      this.gateway.checkRecipient(rcpt.address, envelope.authenticatedAs, {
        clientIp: envelope.clientIp,
        mailFrom: envelope.mailFrom,
      });
    // Only MX mail's verdicts are reused: an authenticated sender's depend on who sends. The
    // key holds the client and sender too: greylisting decides per (network, sender, recipient).
    const verdict = envelope.authenticatedAs ? await ask() : await this.recipientVerdicts.get(
      `${envelope.clientIp} ${envelope.mailFrom} ${rcpt.address}`,
      ask,
    );
    if (!verdict.accept) {
      return { ok: false, ...refusal(verdict.code, verdict.temporary, verdict.reason) };
    }
    // The first recipient is in: ask the envelope's verdict while the client sends the rest.
    if (envelope.rcptTo.length === 0 && !isSubmission(envelope)) {
      this.envelopeVerdict(envelope)?.catch(() => {}); // a failure shows again after DATA
    }
    return { ok: true };
  }

  /** The verdict of `envelopeOnlyMessage`, shared by envelope; undefined when not kept. */
  private envelopeVerdict(envelope: Envelope): Promise<AuthVerdict> | undefined {
    const resolver = this.options.resolver;
    if (!resolver || !this.envelopeVerdicts.enabled || !envelope.mailFrom) return undefined;
    return this.envelopeVerdicts.get(
      envelopeKey(envelope.clientIp, envelope.helo, envelope.mailFrom),
      () => this.verdictOf(envelope, envelopeOnlyMessage(envelope.mailFrom), resolver),
    );
  }

  /** mailauth's verdict on `message` arriving in `envelope`. */
  private verdictOf(envelope: Envelope, message: Uint8Array, resolver: Resolver) {
    const authenticate = this.options.authenticate ?? authenticateInbound;
    return authenticate({
      clientIp: envelope.clientIp,
      helo: envelope.helo,
      mailFrom: envelope.mailFrom,
      message,
    }, {
      resolver,
      hostname: this.options.authservId ?? this.hostname,
      random: this.options.random,
    });
  }

  async authenticate(username: string, password: string, clientIp: string) {
    try {
      const account = await this.gateway.authenticate(username, password, clientIp, "smtp");
      return account
        ? { ok: true as const, accountAddress: account.address, apiKeyId: account.apiKeyId }
        : { ok: false as const };
    } catch (e) {
      if (e instanceof GatewayError && e.status === 429) {
        return { ok: false as const, temporary: true };
      }
      throw e;
    }
  }

  /**
   * Mail from another server: authenticate it, then strip any Authentication-Results that
   * claims our authserv-id (RFC 8601 section 5) and put ours on top. DMARC reject refuses the
   * message here, before anything is stored (RFC 7489 sections 6.6.3 and 10.3).
   */
  private async checkInbound(envelope: Envelope, data: Uint8Array) {
    const resolver = this.options.resolver;
    if (!resolver) return { head: "", data, authentication: undefined, junk: false };
    const authservId = this.options.authservId ?? this.hostname;
    const shared = this.envelopeVerdicts.enabled &&
        verdictDependsOnEnvelopeOnly(data, envelope.mailFrom)
      ? await this.envelopeVerdict(envelope)
      : undefined;
    const verdict = shared
      // DMARC's pct sampling (RFC 7489 section 6.6.4) is drawn for each message.
      ? {
        ...shared,
        disposition: dmarcDisposition(shared.dmarc, this.options.random ?? Math.random),
      }
      : await this.verdictOf(envelope, data, resolver);
    this.options.onVerdict?.(envelope, verdict);
    if (verdict.disposition === "reject") {
      // Counted for the sender's aggregate report (issue21#4); the refusal never waits on it.
      this.gateway.dmarcRefusal({
        clientIp: envelope.clientIp,
        authentication: verdictJson(verdict),
      })
        .catch(() => {});
      throw new SmtpError(reply(550, "5.7.1", "DMARC policy reject"));
    }
    return {
      head: verdict.headers,
      data: stripOwnAuthResults(data, authservId),
      authentication: verdictJson(verdict),
      junk: verdict.disposition === "junk",
    };
  }

  async deliver(envelope: Envelope, data: Uint8Array): Promise<DeliveryResult> {
    const submission = isSubmission(envelope);
    // Authenticated submission is our own users' mail: nothing to verify.
    const checked = submission
      ? { head: "", data, authentication: undefined, junk: false }
      : await this.checkInbound(envelope, data);
    // RFC 8601 section 5: Authentication-Results above the trace field we add.
    const trace = encoder.encode(checked.head + receivedField(envelope, this.hostname, new Date()));
    const recipients = envelope.rcptTo.map((r) => r.address);
    let response;
    try {
      response = submission
        ? await this.gateway.submission(
          {
            mailFrom: envelope.mailFrom,
            recipients,
            authenticatedAs: envelope.authenticatedAs!,
            ...(envelope.apiKeyId ? { apiKeyId: envelope.apiKeyId } : {}),
            clientIp: envelope.clientIp,
          },
          checked.data,
          trace,
        )
        : await this.gateway.inbound(
          {
            mailFrom: envelope.mailFrom,
            recipients,
            clientIp: envelope.clientIp,
            helo: envelope.helo,
            tls: envelope.tls,
            authentication: checked.authentication,
            junk: checked.junk,
          },
          checked.data,
          trace,
        );
    } catch (e) {
      asSmtpError(e);
    }
    return {
      recipients: response.results.map((r) =>
        r.status === "rejected"
          ? refusal(r.code, r.temporary, r.reason)
          : response.replayed
          ? reply(250, "2.0.0", "OK: already accepted (same Idempotency-Key), not sent again")
          : reply(250, "2.0.0", "OK: stored")
      ),
    };
  }
}

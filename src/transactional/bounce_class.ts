/**
 * Which delivery failures are about the recipient. A suppression refuses every later send from
 * the sending domain to the address, so only a permanent failure that says *this recipient's
 * mailbox* does not exist or is closed may create one; a failure about the sender, the message
 * (size, content), policy (blocklists, authentication), the remote system, the network or the
 * recipient domain's DNS fails the message with its reason and leaves the address sendable, as a
 * later send may well succeed. Complaints (RFC 5965) and unsubscribes (RFC 8058) suppress through
 * their own events (timeline.ts), not here.
 *
 * Inputs: the reply's basic code (RFC 5321 section 4.2), its enhanced status code (RFC 3463),
 * and where it was answered (schemas/bridge_outbox.ts `DeliveryStage`), or the per-recipient
 * `Status:` of a returned DSN (RFC 3464 section 2.3.4, stage `dsn`).
 *
 * - The enhanced code decides when there is one (other than X.0.0): its subject (X.1 address,
 *   X.2 mailbox, X.3 system, X.4 network, X.5 protocol, X.6 content, X.7 policy) and detail
 *   (the table below).
 * - Without one, only a RCPT TO reply speaks about one recipient (RFC 5321 section 3.3): 550
 *   (unless its text names a policy reason: section 4.2.2 lets 550 mean "command rejected for
 *   policy reasons"), 551 and 553 there are about the mailbox.
 * - A reply to MAIL FROM is about the sender; a reply to DATA about the whole transaction,
 *   whatever its code says (a receiver that knows a mailbox is missing says so at RCPT, and a
 *   DATA reply cannot name which of several recipients it means).
 */
import type { DeliveryStage } from "../../schemas/bridge_outbox.ts";

export type FailureStage = DeliveryStage | "dsn";

export interface DeliveryFailure {
  /** Where it was answered; undefined when unknown (an older bridge). */
  stage?: FailureStage;
  /** The SMTP reply code (RFC 5321 section 4.2.3). */
  smtpCode?: number;
  /** The enhanced status code (RFC 3463), e.g. "5.1.1". */
  enhanced?: string;
  /** The reply text (only read to spot a policy refusal behind a bare 550). */
  text?: string;
}

export type BounceCategory =
  /** The recipient's mailbox does not exist, moved away or is closed: suppresses. */
  | "recipient"
  /** A mailbox condition that may heal (full, ambiguous, other). */
  | "mailbox"
  /** The recipient domain has no mail route (NXDOMAIN, null MX, no route). */
  | "destination"
  | "sender"
  | "policy"
  | "content"
  | "system"
  | "network"
  | "protocol"
  /** A 4xx: not a permanent failure at all. */
  | "transient"
  | "unknown";

export interface BounceClass {
  category: BounceCategory;
  /** Put the recipient on the sending domain's suppression list. */
  suppress: boolean;
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

/** RFC 3463 section 3.2 (and RFC 7505 for X.1.10): the address codes, X.1.x. */
function addressStatus(detail: number): BounceCategory {
  switch (detail) {
    case 0: // Other address status: something about the address (here: the recipient's).
    case 1: // Bad destination mailbox address: the mailbox does not exist.
    case 3: // Bad destination mailbox address syntax.
    case 6: // Destination mailbox has moved, no forwarding address.
      return "recipient";
    case 2: // Bad destination system address: a domain-wide answer; DNS may change.
    case 10: // RFC 7505 null MX: the domain publishes that it takes no mail.
      return "destination";
    case 4: // Destination mailbox address ambiguous: the receiver's directory to fix.
      return "mailbox";
    case 7: // Bad sender's mailbox address syntax.
    case 8: // Bad sender's system address.
      return "sender";
    default: // 5 (address valid) and 9 (relayed to non-compliant mailer) are no failures.
      return "unknown";
  }
}

/** RFC 3463 section 3: the category of a 5.x.x code by subject and detail. */
function byEnhanced(subject: number, detail: number): BounceCategory {
  switch (subject) {
    case 1:
      return addressStatus(detail);
    case 2:
      // X.2.1 mailbox disabled, not accepting messages: closed accounts are reported this way.
      // X.2.2 mailbox full is called transient by RFC 3463 even with a 5: never suppressed.
      if (detail === 1) return "recipient";
      if (detail === 3) return "content"; // message length exceeds administrative limit
      if (detail === 4) return "system"; // mailing list expansion problem
      return "mailbox";
    case 3:
      return detail === 4 ? "content" : "system"; // X.3.4 message too big for system
    case 4:
      return detail === 4 ? "destination" : "network"; // X.4.4 unable to route
    case 5:
      return "protocol";
    case 6:
      return "content";
    case 7:
      return "policy";
    default:
      return "unknown";
  }
}

/** A 550 whose text gives a policy reason (RFC 5321 section 4.2.2) rather than the mailbox. */
const POLICY_TEXT =
  /\b(?:block(?:ed|list(?:ed)?)?|black ?list(?:ed)?|listed|spam\w*|abuse|polic(?:y|ies)|reputation|[rd]nsbl|rbl|relay(?:ing)?|rate|spf|dkim|dmarc|authenticat\w*|client|your ip|sender)\b/i;

/** RFC 5321 section 4.2.2/4.2.3 (and RFC 7504 for 521/556): a bare basic code at a stage. */
function byBasicCode(code: number, stage: FailureStage | undefined, text: string): BounceCategory {
  if (code === 521 || code === 556) return "destination";
  if (code >= 500 && code <= 504 || code === 555) return "protocol";
  if (stage === "mail") return "sender";
  if (stage === "rcpt") {
    if (code === 550) return POLICY_TEXT.test(text) ? "policy" : "recipient";
    if (code === 551 || code === 553) return "recipient"; // user not local; name not allowed
    if (code === 552) return "mailbox"; // exceeded storage allocation
    return "unknown";
  }
  if (stage === "data" && code === 552) return "content";
  return "unknown";
}

/** Classifies a failure; see the module comment for the rules. */
export function classifyBounce(f: DeliveryFailure): BounceClass {
  const m = ENHANCED.exec(f.enhanced ?? "");
  const specific = m && !(m[2] === "0" && m[3] === "0");
  const klass = m ? m[1] : f.smtpCode ? String(f.smtpCode)[0] : undefined;
  if (klass === "4") return { category: "transient", suppress: false };
  if (klass !== "5") return { category: "unknown", suppress: false };

  let category = specific
    ? byEnhanced(Number(m[2]), Number(m[3]))
    : f.smtpCode
    ? byBasicCode(f.smtpCode, f.stage, f.text ?? "")
    : "unknown";
  if (category === "recipient" || category === "mailbox") {
    // Only a per-recipient answer can speak about a recipient's mailbox.
    if (f.stage === "mail") category = "sender";
    else if (f.stage === "connect" || f.stage === "dns") category = "unknown";
  }
  const perRecipient = f.stage === "rcpt" || f.stage === "dsn" ||
    (f.stage === undefined && !!specific);
  return { category, suppress: category === "recipient" && perRecipient };
}

/**
 * Mail addressed to a signed VERP return path (`bounces+<emailId>.<mac>@<domain>`, signing.ts)
 * at the MX: delivery status notifications (RFC 3464) and feedback reports (RFC 5965) that come
 * back for a transactional message. Such an address is no mailbox: RCPT TO accepts it only when
 * its MAC verifies and it names a message sent from that very domain (never an open door), and
 * the mail goes to the returns matcher (returns.ts) instead of a mailbox, where it becomes
 * `bounced`, `deferred`, `delivered` or `complained` events and suppression entries.
 */
import { eq } from "drizzle-orm";
import { parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import { schema } from "../store/store.ts";
import { ingestReturn, type ReturnOutcome } from "./returns.ts";
import { parseVerp } from "./signing.ts";

/** The message a return path stands for, when it is one of ours; else undefined. */
export async function returnPathMessage(deps: Deps, address: string): Promise<string | undefined> {
  const parsed = parseAddress(address);
  if (!parsed.ok || !parsed.value.local.toLowerCase().startsWith("bounces+")) return undefined;
  const emailId = await parseVerp(deps, parsed.value.address);
  if (!emailId) return undefined;
  const [row] = await deps.store.db.select({ domain: schema.txMessages.domain })
    .from(schema.txMessages).where(eq(schema.txMessages.id, emailId));
  // The MAC covers the message id only: the domain must be the one the message was sent from.
  return row && row.domain === parsed.value.domain.toLowerCase() ? emailId : undefined;
}

export interface SplitRecipients {
  /** Signed return paths of our messages. */
  returns: string[];
  /** Everything else, for the ordinary inbound pipeline. */
  mail: string[];
}

export async function splitReturnPaths(deps: Deps, recipients: string[]): Promise<SplitRecipients> {
  const out: SplitRecipients = { returns: [], mail: [] };
  for (const r of recipients) {
    if (await returnPathMessage(deps, r)) out.returns.push(r);
    else out.mail.push(r);
  }
  return out;
}

/**
 * Hands a report received for return paths to the matcher. The report is consumed whether or
 * not it parses (an auto-reply to a return path is dropped, as at every sending service).
 */
export async function receiveReturn(
  deps: Deps,
  raw: Uint8Array,
  returnPaths: string[],
): Promise<ReturnOutcome> {
  const outcome = await ingestReturn(deps, raw, returnPaths);
  if (outcome.events.length === 0) {
    deps.logger.log("info", "tx.return_ignored", { kind: outcome.kind, emailId: outcome.emailId });
  }
  return outcome;
}

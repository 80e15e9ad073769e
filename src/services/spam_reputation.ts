/**
 * Correspondents: the addresses an account has sent mail to. Mail from one of them earns a
 * reputation bonus (services/spam_verdict.ts), skips greylisting (spam_greylist.ts), and, when
 * its sender authenticated and aligned (DMARC pass, or a federation signature), is never refused
 * as spam. Recorded by the sending job itself (send.ts, submission.ts), one statement, so a
 * send stays one round trip.
 */
import { parseAddress } from "../../schemas/address.ts";
import type { Statement } from "../store/store.ts";

/** Most recipients of one send recorded (a large mailing says nothing about reputation). */
const MAX_RECORDED = 50;

/** Lower-cased `local@domain`, or undefined for what is not an address. */
export function correspondentKey(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const parsed = parseAddress(address);
  return parsed.ok ? parsed.value.address.toLowerCase() : undefined;
}

/** The statement that records `recipients` as the account's correspondents (none: undefined). */
export function correspondentStatement(
  accountId: number,
  recipients: readonly string[],
  now: number,
): Statement | undefined {
  const keys = [...new Set(recipients.map(correspondentKey).filter((k): k is string => !!k))]
    .slice(0, MAX_RECORDED);
  if (keys.length === 0) return undefined;
  return {
    sql: `INSERT INTO spam_correspondents (account_id, address, last_at)
      SELECT ?1, value, ?2 FROM json_each(?3) WHERE true
      ON CONFLICT(account_id, address) DO UPDATE SET last_at = excluded.last_at`,
    args: [accountId, now, JSON.stringify(keys)],
  };
}

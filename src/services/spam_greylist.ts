/**
 * Greylisting (RFC 6647) on the MX: the first message of a (client network, envelope sender,
 * recipient) triplet is deferred at RCPT with 451 4.7.1; a real MTA retries after the delay and
 * gets through, most spam software never does. The network is the client's /24 (IPv6 /64): big
 * senders retry from a neighbouring address (RFC 6647 section 4.1). Exempt: authenticated
 * submission (never asks here), trusted networks (config), senders the recipient has written to,
 * triplets that passed before, and networks that passed `spamGreylistAutoAllow` triplets
 * (auto-allow, section 4.3). Federation mail is signed and never reaches RCPT. The triplets
 * live in the store, so every gateway of a cluster sees one greylist.
 */
import type { Deps } from "../deps.ts";
import { rawSql, type Statement } from "../store/store.ts";
import { greyNetwork, inNetworks, listSetting } from "../spam/ip.ts";
import { resolveRecipient } from "./delivery.ts";
import { correspondentKey } from "./spam_reputation.ts";

export interface GreylistInput {
  clientIp: string;
  mailFrom: string;
  recipient: string;
}

/** True when the triplet must wait (answer 451 4.7.1); false when it may pass. */
export async function greylisted(deps: Deps, input: GreylistInput): Promise<boolean> {
  const { config } = deps;
  if (!config.spamGreylist || !config.spamEnabled) return false;
  if (inNetworks(input.clientIp, listSetting(config.spamTrustedNetworks))) return false;
  const db = deps.store.db;
  const net = greyNetwork(input.clientIp);
  const sender = correspondentKey(input.mailFrom) ?? (input.mailFrom ? input.mailFrom : "<>");
  const rcpt = input.recipient.toLowerCase();
  const tripletKey = `t:${net} ${sender} ${rcpt}`;
  const netKey = `n:${net}`;
  const targets = await resolveRecipient(db, input.recipient) ?? [];
  const accounts = targets.flatMap((t) => (t.kind === "account" ? [t.accountId] : []));
  const row = await rawSql(db).get<Record<string, string | null>>(
    `SELECT
      (SELECT json_array(first_seen, passed_at) FROM spam_greylist WHERE key = ?1) AS triplet,
      (SELECT passes FROM spam_greylist WHERE key = ?2) AS passes,
      EXISTS (SELECT 1 FROM spam_correspondents WHERE address = ?3
        AND account_id IN (SELECT value FROM json_each(?4))) AS known`,
    [tripletKey, netKey, sender, JSON.stringify(accounts)],
  );
  if (Number(row?.known ?? 0) === 1) return false;
  const autoAllow = config.spamGreylistAutoAllow;
  if (autoAllow > 0 && Number(row?.passes ?? 0) >= autoAllow) return false;
  const now = deps.clock.now();
  const triplet = row?.triplet ? JSON.parse(row.triplet) as [number, number | null] : undefined;
  if (triplet?.[1] != null) return false; // passed before
  const delayMs = config.spamGreylistDelaySeconds * 1000;
  const retryMs = config.spamGreylistRetrySeconds * 1000;
  const statements: Statement[] = [];
  let wait = true;
  if (!triplet || now - triplet[0] > retryMs) {
    // New, or came back too late (RFC 6647 section 2.3): the clock starts again.
    statements.push({
      sql: `INSERT INTO spam_greylist (key, first_seen, last_seen) VALUES (?1, ?2, ?2)
        ON CONFLICT(key) DO UPDATE SET first_seen = ?2, last_seen = ?2 WHERE passed_at IS NULL`,
      args: [tripletKey, now],
    });
  } else if (now - triplet[0] >= delayMs) {
    wait = false;
    statements.push(
      {
        sql: "UPDATE spam_greylist SET passed_at = ?2, last_seen = ?2 WHERE key = ?1",
        args: [tripletKey, now],
      },
      {
        sql: `INSERT INTO spam_greylist (key, first_seen, passes, last_seen) VALUES (?1, ?2, 1, ?2)
          ON CONFLICT(key) DO UPDATE SET passes = passes + 1, last_seen = ?2`,
        args: [netKey, now],
      },
    );
  }
  if (statements.length > 0) await deps.store.batch(statements);
  return wait;
}

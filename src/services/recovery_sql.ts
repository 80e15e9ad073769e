/**
 * The SQL step that keeps deleted mail recoverable (services/recovery.ts), apart so that the
 * purge (message_store.ts) can use it without importing the recovery service.
 */
import { inJson } from "../store/optimistic.ts";
import type { Config } from "../config.ts";
import type { Statement } from "../store/store.ts";

/** Whether deleted mail is kept for recovery at all. */
export const recoveryOn = (config: Pick<Config, "recoveryDays">) => config.recoveryDays > 0;

/**
 * The step that copies messages `?1` (a JSON array of ids, about to be deleted in the same
 * job) into the recovery table, with the name of the mailbox each was in.
 */
export function recoverStatement(idsJson: string): Statement {
  return {
    sql: `INSERT INTO recoverable_messages (account_id, mailbox_id, mailbox_name, message_id,
        blob_sha256, size, subject, from_address, internal_date, seen, flagged, answered, draft,
        keywords)
      SELECT m.account_id, m.mailbox_id, b.name, m.id, m.blob_sha256, m.size, m.subject,
        m.from_address, m.internal_date, m.seen, m.flagged, m.answered, m.draft, m.keywords
      FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE m.id ${inJson("?1")}`,
    args: [idsJson],
  };
}

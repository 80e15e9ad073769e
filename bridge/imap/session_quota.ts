/**
 * QUOTA (RFC 9208) with the one resource Postern accounts have: STORAGE, counted in units of
 * 1024 octets (section 5.1). Every mailbox of an account shares one quota root, named "" — the
 * account's quota. An account without a limit has no quota root (section 4.1.2: GETQUOTAROOT
 * lists none; GETQUOTA of an unknown root is NO). SETQUOTA is an administrator's business here
 * (the admin API), so it is not offered.
 */
import { ImapError } from "./backend.ts";
import type { Command } from "./command.ts";
import { astring } from "./encode.ts";
import { encodeMailboxName } from "./mailbox_name.ts";
import { findMailbox } from "./session_mailbox.ts";
import type { ImapSession } from "./session.ts";

const ROOT = "";

export async function quotaCommand(
  session: ImapSession,
  tag: string,
  command: Extract<Command, { name: "GETQUOTA" | "GETQUOTAROOT" }>,
): Promise<void> {
  const account = session.account!;
  if (command.name === "GETQUOTAROOT") {
    const box = await findMailbox(session, command.mailbox);
    const { usedBytes, limitBytes } = await account.quota();
    const name = astring(encodeMailboxName(box.name));
    if (limitBytes <= 0) {
      session.untagged(`QUOTAROOT ${name}`);
    } else {
      session.untagged(`QUOTAROOT ${name} ""`);
      session.untagged(quotaLine(usedBytes, limitBytes));
    }
    session.ok(tag, "GETQUOTAROOT completed");
    return;
  }
  const { usedBytes, limitBytes } = await account.quota();
  if (command.root !== ROOT || limitBytes <= 0) {
    throw new ImapError("NONEXISTENT", "no such quota root");
  }
  session.untagged(quotaLine(usedBytes, limitBytes));
  session.ok(tag, "GETQUOTA completed");
}

/** `QUOTA "" (STORAGE used limit)` in KiB, used rounded up so a nearly full box never reads 0. */
function quotaLine(usedBytes: number, limitBytes: number): string {
  const kib = (n: number) => Math.ceil(Math.max(0, n) / 1024);
  return `QUOTA "" (STORAGE ${kib(usedBytes)} ${Math.floor(limitBytes / 1024)})`;
}

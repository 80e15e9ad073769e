/**
 * IDLE (RFC 2177): after the `+ idling` continuation the client's mailbox updates are pushed
 * as they happen (the backend's change stream marks the view dirty and the server polls),
 * until the client sends DONE. Expunges may be sent while idling.
 */
import type { ImapSession } from "./session.ts";
import { refresh } from "./session_view.ts";

export async function idleCommand(session: ImapSession, tag: string): Promise<void> {
  await refresh(session, true);
  session.pendingTag = tag;
  session.mode = "idle";
  session.send("+ idling\r\n");
}

/** A line while idling: DONE ends IDLE (section 3); anything else is a protocol error. */
export async function idleDone(session: ImapSession, line: string): Promise<void> {
  const tag = session.pendingTag ?? "*";
  session.pendingTag = undefined;
  session.mode = "command";
  if (line.trim().toUpperCase() !== "DONE") {
    session.bad(tag, "expected DONE");
    return;
  }
  await refresh(session, true);
  session.ok(tag, "IDLE terminated");
}

/**
 * What the ManageSieve session and its command modules share: the actions the server carries
 * out (send, TLS upgrade, close) and what a script command needs of its session.
 */
import type { SieveAccount, SieveCapabilities } from "./backend.ts";

export type Action =
  | { type: "send"; data: string }
  | { type: "startTls" }
  | { type: "close" };

export const send = (data: string): Action => ({ type: "send", data });

/** What the script commands need of the session they run in. */
export interface SessionContext {
  account: SieveAccount;
  capabilities: SieveCapabilities;
  /** Counts a bad command and answers it (BYE after too many). */
  bad(reason: string): Action[];
}

/**
 * The POP3 backend over the gateway: the credential is checked with the bridge key, and
 * everything after it runs with the account's own session (bridge/mail_client.ts) on its Inbox:
 * one maildrop call at login (UIDs and sizes only), raw frames for RETR/TOP, and at QUIT one flag store plus one UID
 * EXPUNGE (RFC 4315) of exactly the messages marked with DELE.
 */
import { formatUidSet } from "../../schemas/mail_access.ts";
import type { FetchLike } from "../gateway_client.ts";
import { MailClient } from "../mail_client.ts";
import type { LoginResult, Maildrop, Pop3Backend } from "./backend.ts";

export class GatewayPop3Backend implements Pop3Backend {
  constructor(
    private readonly baseUrl: string,
    private readonly bridgeKey: string,
    private readonly fetcher?: FetchLike,
  ) {}

  async login(username: string, password: string, clientIp: string): Promise<LoginResult> {
    const client = await MailClient.open({
      baseUrl: this.baseUrl,
      bridgeKey: this.bridgeKey,
      username,
      secret: password,
      clientIp,
      protocol: "pop3",
      fetcher: this.fetcher,
    });
    if (typeof client === "string") return { ok: false, reason: client };
    try {
      // One call: the Inbox's id and UIDVALIDITY with its UIDs and sizes as two columns.
      const { mailbox, uids, sizes } = await client.maildrop();
      const messages = uids.map((uid, i) => ({ uid, size: sizes[i] }));
      return {
        ok: true,
        maildrop: new GatewayMaildrop(client, mailbox.id, mailbox.uidValidity, messages),
      };
    } catch (e) {
      await client.close();
      throw e;
    }
  }
}

class GatewayMaildrop implements Maildrop {
  constructor(
    private readonly client: MailClient,
    private readonly mailboxId: number,
    readonly uidValidity: number,
    readonly messages: { uid: number; size: number }[],
  ) {}

  async fetch(uids: number[]): Promise<Map<number, Uint8Array>> {
    if (uids.length === 0) return new Map();
    return await this.client.raw(this.mailboxId, formatUidSet(uids));
  }

  async commit(deleted: number[], retrieved: number[]): Promise<void> {
    const gone = new Set(deleted);
    const seen = retrieved.filter((u) => !gone.has(u));
    if (seen.length > 0) {
      await this.client.store(this.mailboxId, {
        uids: formatUidSet(seen),
        op: "add",
        flags: ["\\Seen"],
      });
    }
    if (deleted.length > 0) {
      const set = formatUidSet(deleted);
      await this.client.store(this.mailboxId, { uids: set, op: "add", flags: ["\\Deleted"] });
      await this.client.expunge(this.mailboxId, set);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

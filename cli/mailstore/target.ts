/**
 * Postern's side of import and export: an account's mailboxes found or created by name or
 * special-use role (RFC 6154), messages appended through the same service the IMAP APPEND route
 * uses (`appendMessage`: quota, events and the byte-exact blob), with a duplicate check first —
 * APPEND itself does not deduplicate, so a message already in the mailbox with the same bytes
 * (SHA-256) and internal date is skipped, which makes every import safe to run again — and the
 * stored messages read back for export, a page at a time.
 */
import { and, asc, eq, gt, gte, inArray, lt, sql } from "drizzle-orm";
import { canonicalMailboxName } from "../../schemas/api_mail.ts";
import { sha256Hex } from "../../src/crypto.ts";
import type { Deps } from "../../src/deps.ts";
import { silentLogger } from "../../src/ports.ts";
import type { Account, MailboxRole } from "../../src/services/accounts.ts";
import { appendMessage } from "../../src/services/mail_access_write.ts";
import { flagColumns, flagsOf } from "../../src/services/mail_access.ts";
import { createMailbox, mailboxByRole } from "../../src/services/mailboxes.ts";
import { schema } from "../../src/store/store.ts";
import { CliError, type Values } from "../args.ts";
import { accountByAddress } from "../cmd_accounts.ts";
import { loadConfig, masterKey, openConfiguredStore, paths } from "../context.ts";
import { buildDeps } from "../../hosts/process/deps_node.ts";
import type { MailItem } from "./flags.ts";
import { blobBytes } from "../../src/services/blob_chunks.ts";

export interface MailStore {
  deps: Deps;
  dataDir: string;
  close(): void;
}

/** The configured store and gateway services, for one command run. */
export async function openMailStore(values: Values): Promise<MailStore> {
  const config = await loadConfig(values);
  const key = await masterKey(config);
  const store = await openConfiguredStore(config);
  const deps = await buildDeps(config, store, key, silentLogger);
  return { deps, dataDir: paths(config).dataDir, close: () => store.close() };
}

export const ROLES: MailboxRole[] = ["inbox", "sent", "drafts", "trash", "junk", "archive"];

/** RFC 6154 attribute (`\Sent`) → role; folders named like a role's default map to it too. */
export function roleOf(specialUse: string | undefined, name: string): MailboxRole | undefined {
  if (name.toUpperCase() === "INBOX") return "inbox";
  const r = specialUse?.replace(/^\\/, "").toLowerCase();
  if (r && (ROLES as string[]).includes(r)) return r as MailboxRole;
  return undefined;
}

/** Makes a source folder name acceptable here: "/"-separated, no `%`/`*`, no empty segments. */
export function localName(segments: string[]): string {
  const clean = segments.map((s) => s.replace(/[%*/]/g, "_").trim() || "_");
  return canonicalMailboxName(clean.join("/"));
}

export class AccountTarget {
  #boxes = new Map<string, number>();
  constructor(readonly deps: Deps, readonly account: Account) {}

  static async open(deps: Deps, address: string): Promise<AccountTarget> {
    return new AccountTarget(deps, await accountByAddress(deps.store, address));
  }

  /** The mailbox for a role, else by name (created with its parents when missing). */
  async mailbox(name: string, role?: MailboxRole): Promise<number> {
    const key = `${role ?? ""}\u0000${name}`;
    const known = this.#boxes.get(key);
    if (known) return known;
    let id: number | undefined;
    if (role) id = (await mailboxByRole(this.deps.store.db, this.account.id, role))?.id;
    if (!id) {
      const canonical = canonicalMailboxName(name);
      const [row] = await this.deps.store.db.select({ id: schema.mailboxes.id })
        .from(schema.mailboxes).where(and(
          eq(schema.mailboxes.accountId, this.account.id),
          eq(schema.mailboxes.name, canonical),
        ));
      id = row?.id ?? (await createMailbox(this.deps, this.account.id, canonical)).id;
    }
    this.#boxes.set(key, id);
    return id;
  }

  /**
   * True when the mailbox already holds these bytes with this internal date, to the second
   * (the precision of IMAP INTERNALDATE and of every file format; stored dates may carry ms).
   */
  async holds(mailboxId: number, sha: string, internalDate: number): Promise<boolean> {
    const m = schema.messages;
    const second = Math.floor(internalDate / 1000) * 1000;
    const [row] = await this.deps.store.db.select({ id: m.id }).from(m).where(and(
      eq(m.mailboxId, mailboxId),
      eq(m.blobSha256, sha),
      gte(m.internalDate, second),
      lt(m.internalDate, second + 1000),
    )).limit(1);
    return row !== undefined;
  }

  #submitted: Promise<void> = Promise.resolve();

  /**
   * Appends unless already there; "stored" or "duplicate". Calls may overlap (MIME parsing and
   * the store's group commit then work for several messages at once), yet each append's write
   * job (one round trip, `appendMessages`) enters the store only after the previous call's did —
   * on the embedded file its FIFO write queue, elsewhere after the previous job has committed
   * (batches sent at once to a remote server may commit in any order) — so UIDs follow the order
   * of the calls: the source's order.
   */
  async append(
    mailboxId: number,
    item: Omit<MailItem, "origin"> & { origin?: string },
  ): Promise<"stored" | "duplicate"> {
    const previous = this.#submitted;
    let submitted!: () => void;
    this.#submitted = new Promise((r) => submitted = r);
    const store = this.deps.store;
    const queued = store.client.protocol === "file";
    const ordered = Object.create(store) as typeof store;
    ordered.batch = async (statements) => {
      await previous;
      const result = store.batch(statements);
      if (queued) submitted();
      try {
        return await result;
      } finally {
        submitted();
      }
    };
    try {
      const sha = await sha256Hex(item.raw);
      if (await this.holds(mailboxId, sha, item.internalDate)) return "duplicate";
      await appendMessage({ ...this.deps, store: ordered }, this.account.id, mailboxId, item.raw, {
        flags: item.flags.filter((f) => f.toLowerCase() !== "\\recent"),
        internalDate: item.internalDate,
      });
      return "stored";
    } catch (e) {
      const err = e as { status?: number; code?: string; message: string };
      throw new CliError(
        `storing ${item.origin ?? "a message"} into ${this.account.address} failed: ${
          err.code ?? ""
        } ${err.message}`,
      );
    } finally {
      submitted(); // also when it failed or was a duplicate before reaching the store
    }
  }

  /** Messages and bytes stored in the account (for progress totals). */
  async totals(): Promise<{ messages: number; bytes: number }> {
    const m = schema.messages;
    const [row] = await this.deps.store.db.select({
      n: sql<number>`count(*)`,
      b: sql<number>`coalesce(sum(${m.size}), 0)`,
    }).from(m).where(eq(m.accountId, this.account.id));
    return { messages: Number(row?.n ?? 0), bytes: Number(row?.b ?? 0) };
  }

  async mailboxes() {
    return await this.deps.store.db.select().from(schema.mailboxes)
      .where(eq(schema.mailboxes.accountId, this.account.id)).orderBy(asc(schema.mailboxes.name));
  }

  /** The stored messages of a mailbox in UID order, with their exact bytes, a page at a time. */
  async *messages(
    mailboxId: number,
    page = 32,
  ): AsyncGenerator<MailItem & { uid: number; from: string }> {
    const m = schema.messages;
    let after = 0;
    for (;;) {
      const rows = await this.deps.store.db.select({
        uid: m.uid,
        sha: m.blobSha256,
        internalDate: m.internalDate,
        from: m.fromAddress,
        ...flagColumns,
      }).from(m).where(and(
        eq(m.accountId, this.account.id),
        eq(m.mailboxId, mailboxId),
        gt(m.uid, after),
      )).orderBy(asc(m.uid)).limit(page);
      if (rows.length === 0) return;
      const shas = [...new Set(rows.map((r) => r.sha))];
      const blobs = await this.deps.store.db.select().from(schema.blobs)
        .where(inArray(schema.blobs.sha256, shas));
      const bytes = new Map<string, Uint8Array>();
      for (const b of blobs) bytes.set(b.sha256, await blobBytes(this.deps.store.db, b));
      for (const r of rows) {
        const raw = bytes.get(r.sha);
        if (!raw) continue; // purged meanwhile
        yield {
          uid: r.uid,
          raw,
          internalDate: r.internalDate,
          flags: flagsOf(r),
          from: r.from,
          origin: `uid ${r.uid}`,
        };
      }
      after = rows[rows.length - 1].uid;
    }
  }
}

/** Every account's address (for `--all`). */
export async function allAddresses(deps: Deps): Promise<string[]> {
  const rows = await deps.store.db.select({ address: schema.accounts.address })
    .from(schema.accounts).orderBy(asc(schema.accounts.address));
  return rows.map((r) => r.address);
}

/**
 * An in-memory `ImapBackend` for transcript and socket tests: accounts with passwords,
 * mailboxes with UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ, messages with flags, modseqs and internal
 * dates, an expunge log for `changes`, and a change stream so other sessions see updates.
 * Semantics follow the gateway's mailbox-access API (schemas/mail_access.ts).
 */
import { parseMimeStructure } from "../../schemas/mime_structure.ts";
import type { MimeStructure } from "../../schemas/mime_structure.ts";
import {
  type AppendResult,
  type AuthOutcome,
  type ExpungeResult,
  type ImapAccount,
  type ImapBackend,
  ImapError,
  type IndexEntry,
  type MailboxChanges,
  type MailboxInfo,
  type MailboxState,
  type SearchCriteria,
  type SearchResult,
  type StoreFlagsResult,
  type TransferResult,
} from "./backend.ts";
import { matches } from "./search_eval.ts";

interface StoredMessage {
  uid: number;
  id: number;
  modseq: number;
  internalDate: number;
  flags: string[];
  raw: Uint8Array;
  structure: MimeStructure;
}

interface MemMailbox {
  id: number;
  name: string;
  role: string | null;
  subscribed: boolean;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  messages: StoredMessage[];
  expunged: { uid: number; modseq: number }[];
}

interface MemAccount {
  address: string;
  password: string;
  mailboxes: MemMailbox[];
  listeners: Set<(mailboxId: number | null) => void>;
  /** Storage limit in bytes; 0 = none (RFC 9208 STORAGE). */
  quotaBytes?: number;
}

const SYSTEM = new Map(
  ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"].map((f) => [f.toLowerCase(), f]),
);
const canonicalFlag = (f: string) => SYSTEM.get(f.toLowerCase()) ?? f;

export class MemoryBackend implements ImapBackend {
  accounts = new Map<string, MemAccount>();
  #nextId = 1;
  #nextMessageId = 1;
  /** Authentication outcome override for tests ("down" makes every check fail temporarily). */
  mode: "normal" | "down" = "normal";

  addAccount(address: string, password: string): void {
    const account: MemAccount = { address, password, mailboxes: [], listeners: new Set() };
    this.accounts.set(address, account);
    for (
      const [name, role] of [
        ["INBOX", "inbox"],
        ["Sent", "sent"],
        ["Drafts", "drafts"],
        [
          "Trash",
          "trash",
        ],
        ["Junk", "junk"],
        ["Archive", "archive"],
      ] as const
    ) this.#create(account, name, role);
  }

  #create(account: MemAccount, name: string, role: string | null): MemMailbox {
    const box: MemMailbox = {
      id: this.#nextId++,
      name,
      role,
      subscribed: true,
      uidValidity: 1000 + this.#nextId,
      uidNext: 1,
      highestModseq: 1,
      messages: [],
      expunged: [],
    };
    account.mailboxes.push(box);
    return box;
  }

  /** Delivers a message (as the SMTP path would), returning its UID. */
  deliver(address: string, mailbox: string, raw: Uint8Array | string, flags: string[] = []) {
    const account = this.accounts.get(address)!;
    const box = account.mailboxes.find((b) => b.name === mailbox)!;
    const bytes = typeof raw === "string" ? new TextEncoder().encode(raw) : raw;
    const uid = this.#add(box, bytes, flags, Date.UTC(2024, 0, 15, 10, 30, 0)).uid;
    this.#notify(account, box.id);
    return uid;
  }

  #add(box: MemMailbox, raw: Uint8Array, flags: string[], internalDate: number) {
    const m: StoredMessage = {
      uid: box.uidNext++,
      id: this.#nextMessageId++,
      modseq: ++box.highestModseq,
      internalDate,
      flags: [...new Set(flags.map(canonicalFlag))],
      raw,
      structure: parseMimeStructure(raw),
    };
    box.messages.push(m);
    return m;
  }

  #notify(account: MemAccount, mailboxId: number | null): void {
    for (const l of [...account.listeners]) queueMicrotask(() => l(mailboxId));
  }

  authenticate(username: string, password: string): Promise<AuthOutcome> {
    if (this.mode === "down") return Promise.resolve({ ok: false, temporary: true });
    const account = this.accounts.get(username.toLowerCase());
    if (!account || account.password !== password) return Promise.resolve({ ok: false });
    return Promise.resolve({ ok: true, account: this.#session(account) });
  }

  #session(account: MemAccount): ImapAccount {
    const box = (id: number) => {
      const b = account.mailboxes.find((m) => m.id === id);
      if (!b) throw new ImapError("NONEXISTENT", "no such mailbox");
      return b;
    };
    const state = (b: MemMailbox): MailboxState => ({
      id: b.id,
      name: b.name,
      role: b.role as MailboxState["role"],
      uidValidity: b.uidValidity,
      uidNext: b.uidNext,
      highestModseq: b.highestModseq,
      exists: b.messages.length,
      unseen: b.messages.filter((m) => !m.flags.includes("\\Seen")).length,
      sizeBytes: b.messages.reduce((n, m) => n + m.raw.byteLength, 0),
    });
    const entry = (m: StoredMessage): IndexEntry => ({
      uid: m.uid,
      id: m.id,
      modseq: m.modseq,
      internalDate: m.internalDate,
      size: m.raw.byteLength,
      flags: [...m.flags],
    });
    const pick = (b: MemMailbox, uids: number[]) => {
      const want = new Set(uids);
      return b.messages.filter((m) => want.has(m.uid));
    };
    const transfer = (id: number, uids: number[], target: number, move: boolean) => {
      const src = box(id);
      const dst = box(target);
      const mapping: [number, number][] = [];
      for (const m of pick(src, uids)) {
        mapping.push([m.uid, this.#add(dst, m.raw, m.flags, m.internalDate).uid]);
      }
      if (move) {
        const moved = new Set(mapping.map(([s]) => s));
        src.highestModseq++;
        for (const uid of moved) src.expunged.push({ uid, modseq: src.highestModseq });
        src.messages = src.messages.filter((m) => !moved.has(m.uid));
        this.#notify(account, src.id);
      }
      this.#notify(account, dst.id);
      return Promise.resolve<TransferResult>({ uidValidity: dst.uidValidity, mapping });
    };
    const usedBytes = () =>
      account.mailboxes.reduce(
        (n, b) => n + b.messages.reduce((k, m) => k + m.raw.byteLength, 0),
        0,
      );
    const run = <T>(f: () => T): Promise<T> => {
      try {
        return Promise.resolve(f());
      } catch (e) {
        return Promise.reject(e);
      }
    };
    return {
      address: account.address,
      mailboxes: () =>
        Promise.resolve(account.mailboxes.map((b): MailboxInfo => ({
          ...state(b),
          subscribed: b.subscribed,
        }))),
      createMailbox: (name, role) =>
        run(() => {
          if (account.mailboxes.some((b) => b.name.toLowerCase() === name.toLowerCase())) {
            throw new ImapError("ALREADYEXISTS", "the mailbox already exists");
          }
          // One mailbox per role, as the gateway keeps it.
          const holder = role && account.mailboxes.find((b) => b.role === role);
          if (holder) {
            throw new ImapError(
              "USEATTR",
              `the ${role} mailbox is "${holder.name}"; each special use belongs to one mailbox`,
            );
          }
          this.#create(account, name, role ?? null);
        }),
      deleteMailbox: (id) =>
        run(() => {
          const b = box(id);
          if (b.role) throw new ImapError("CANNOT", "special-use mailboxes cannot be deleted");
          account.mailboxes = account.mailboxes.filter((x) => x !== b);
        }),
      renameMailbox: (id, name) =>
        run(() => {
          const b = box(id);
          if (account.mailboxes.some((x) => x.name.toLowerCase() === name.toLowerCase())) {
            throw new ImapError("ALREADYEXISTS", "the target name exists");
          }
          const old = b.name;
          for (const x of account.mailboxes) {
            if (x.name.startsWith(old + "/")) x.name = name + x.name.slice(old.length);
          }
          b.name = name;
        }),
      setSubscribed: (id, subscribed) => run(() => void (box(id).subscribed = subscribed)),
      index: (id) =>
        run(() => {
          const b = box(id);
          return { mailbox: state(b), items: b.messages.map(entry) };
        }),
      changes: (id, since) =>
        run((): MailboxChanges => {
          const b = box(id);
          return {
            mailbox: state(b),
            changed: b.messages.filter((m) => m.modseq > since).map(entry),
            expunged: b.expunged.filter((e) => e.modseq > since).map((e) => e.uid),
          };
        }),
      raw: (id, uids) => run(() => new Map(pick(box(id), uids).map((m) => [m.uid, m.raw]))),
      headers: (id, uids) =>
        run(() =>
          new Map(
            pick(box(id), uids).map((m) => [m.uid, m.raw.subarray(0, m.structure.body.bodyStart)]),
          )
        ),
      structure: (id, uids) =>
        run(() => new Map(pick(box(id), uids).map((m) => [m.uid, m.structure]))),
      store: (id, req) =>
        run((): StoreFlagsResult => {
          const b = box(id);
          const flags = req.flags.map(canonicalFlag);
          const modified: number[] = [];
          const updated: IndexEntry[] = [];
          for (const m of pick(b, req.uids)) {
            if (req.unchangedSince !== undefined && m.modseq > req.unchangedSince) {
              modified.push(m.uid);
              continue;
            }
            const before = m.flags.join(" ");
            let next: string[];
            if (req.op === "replace") next = [...new Set(flags)];
            else if (req.op === "add") next = [...new Set([...m.flags, ...flags])];
            else {next = m.flags.filter((f) =>
                !flags.some((x) => x.toLowerCase() === f.toLowerCase())
              );}
            if (next.join(" ") !== before) {
              m.flags = next;
              m.modseq = ++b.highestModseq;
            }
            updated.push(entry(m));
          }
          this.#notify(account, b.id);
          return { updated, modified, highestModseq: b.highestModseq };
        }),
      expunge: (id, uids) =>
        run((): ExpungeResult => {
          const b = box(id);
          const only = uids ? new Set(uids) : undefined;
          const gone = b.messages.filter((m) =>
            m.flags.includes("\\Deleted") && (!only || only.has(m.uid))
          ).map((m) => m.uid);
          if (gone.length > 0) {
            b.highestModseq++;
            for (const uid of gone) b.expunged.push({ uid, modseq: b.highestModseq });
            const set = new Set(gone);
            b.messages = b.messages.filter((m) => !set.has(m.uid));
            this.#notify(account, b.id);
          }
          return { expunged: gone, highestModseq: b.highestModseq };
        }),
      copy: (id, uids, target) => transfer(id, uids, target, false),
      move: (id, uids, target) => transfer(id, uids, target, true),
      append: (id, raw, opts) =>
        run((): AppendResult => {
          const b = box(id);
          // The gateway's quota check (HTTP 507), as RFC 9208's OVERQUOTA.
          if (account.quotaBytes && usedBytes() + raw.byteLength > account.quotaBytes) {
            throw new ImapError("OVERQUOTA", "the account is over its storage quota");
          }
          const m = this.#add(b, raw, opts.flags, opts.internalDate ?? Date.now());
          this.#notify(account, b.id);
          return { uid: m.uid, id: m.id, uidValidity: b.uidValidity, modseq: m.modseq };
        }),
      search: (id, criteria: SearchCriteria) =>
        run((): SearchResult => {
          const b = box(id);
          const maxUid = b.messages.at(-1)?.uid ?? 0;
          const hits = b.messages.filter((m) => matches(m, criteria, maxUid));
          return {
            uids: hits.map((m) => m.uid),
            highestModseq: hits.reduce((n, m) => Math.max(n, m.modseq), 0),
          };
        }),
      quota: () =>
        run(() => ({
          usedBytes: usedBytes(),
          limitBytes: account.quotaBytes ?? 0,
        })),
      watch: (listener) => {
        account.listeners.add(listener);
        return () => account.listeners.delete(listener);
      },
      close: () => Promise.resolve(),
    };
  }
}

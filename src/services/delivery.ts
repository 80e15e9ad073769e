/**
 * The inbound pipeline every transport calls (HTTP send, SMTP, federation, SHARP, IMAP APPEND
 * goes through message_store directly): recipient lookup (accounts, plus-addressing, aliases,
 * catch-all) → policy (size, quota) → spam verdict (services/spam_verdict.ts) → store → events. It answers per recipient only after the
 * write transaction has committed, and the same message (Message-ID and digest) delivered twice
 * to the same mailbox is stored once.
 */
import { and, eq } from "drizzle-orm";
import { parseAddress, splitPlus } from "../../schemas/address.ts";
import type { ParsedMail } from "../../schemas/mail.ts";
import type { Deps } from "../deps.ts";
import type { ErrorCode } from "../errors.ts";
import { sha256Hex } from "../crypto.ts";
import type { ResultSet } from "@libsql/client/web";
import type { Queryable, Statement } from "../store/store.ts";
import { assertStep, rawSql, readCaches, schema } from "../store/store.ts";
import {
  type Account,
  addressKey,
  findAccountByAddress,
  findDomain,
  usageMayBeOld,
} from "./accounts.ts";
import {
  deliveryKeyFor,
  type Flags,
  sealedStoreJob,
  type StoreJob,
  type StoreOutcome,
} from "./message_store.ts";
import { BLOB_UNUSED, blobJob } from "./blob_chunks.ts";
import { enqueueStatements, type OutboundInput, type SqlValue } from "./outbox.ts";
import { hintSearchText, type SearchText } from "./search_index.ts";
import { applySieve } from "./sieve_delivery.ts";
import { spamStep } from "./spam_verdict.ts";
import { forwardDomainOf, forwardStatements } from "../forwarding/forward.ts";
import { routeRecipient } from "../forwarding/user_forwarding.ts";
import { dmarcCountStatement } from "../reports/dmarc_record.ts";
import { receivedReportStatements } from "../reports/receive.ts";

export type DeliverySource = "api" | "smtp" | "federation" | "sharp" | "import";

export interface InboundMessage {
  raw: Uint8Array;
  /** Envelope sender (RFC 5321 MAIL FROM); empty for bounces. */
  mailFrom: string;
  recipients: string[];
  source: DeliverySource;
  /** Mail an authenticated user submitted (SMTP AUTH): no spam verdict. */
  submission?: boolean;
  /** Already parsed by the caller (saves a second parse), else parsed here. */
  parsed?: ParsedMail;
  internalDate?: number;
  /** Verdicts from the transport (SPF/DKIM/DMARC/ARC, federation signature…), kept in the JSON form. */
  authentication?: Record<string, unknown>;
  /** Deliver into this role instead of the Inbox (e.g. "junk" for a spam verdict). */
  mailboxRole?: "inbox" | "junk";
  flags?: Flags;
  /**
   * Octets at the start of `raw` that the receiving hop added (trace and Authentication-Results
   * fields, new on every hand-in): left out of the duplicate key, so that a client's retry of a
   * message whose 250 it never saw — through this bridge or another — is stored once.
   */
  traceBytes?: number;
}

export type RecipientStatus = "delivered" | "duplicate" | "forwarded" | "rejected";

export interface RecipientResult {
  recipient: string;
  status: RecipientStatus;
  /** For rejections: a stable code, and whether a retry could succeed (quota, for example). */
  code?: ErrorCode;
  temporary?: boolean;
  reason?: string;
  accountId?: number;
  messageId?: number;
}

type Target =
  /** `quota` is read in the same transaction when the caller holds the write lock. */
  | {
    kind: "account";
    accountId: number;
    address: string;
    /** `usedBytes` may be behind when taken from a request's cache: the SQL guard decides. */
    quota: { quotaBytes: number; usedBytes: number; mayBeOld?: boolean };
  }
  | { kind: "remote"; address: string };

const accountTarget = (a: Account): Target => ({
  kind: "account",
  accountId: a.id,
  address: a.address,
  quota: { quotaBytes: a.quotaBytes, usedBytes: a.usedBytes, mayBeOld: usageMayBeOld(a) },
});

const MAX_ALIAS_DEPTH = 4;

/**
 * Where postmaster mail goes. RFC 5321 section 4.5.1: every domain we take mail for has a
 * postmaster (the local part matched without regard to case), and `RCPT TO:<Postmaster>` with no
 * domain must be accepted; the SMTP bridge spells that `postmaster@<hostname>`. When no account
 * or alias of that name exists, the mail goes to `account` (config `postmasterAccount`), else to
 * the first admin account: never refused, or abuse and DMARC reports would bounce.
 */
export interface PostmasterRoute {
  /** This server's host name (config `hostname`), the domain of a bare `<Postmaster>`. */
  hostname: string;
  account?: string;
}

export const postmasterRoute = (config: Deps["config"]): PostmasterRoute => ({
  hostname: config.hostname.toLowerCase(),
  account: config.postmasterAccount,
});

const isPostmasterLocal = (local: string) => splitPlus(local).base.toLowerCase() === "postmaster";

/** True for `postmaster@<hostname>` when the host name is not itself a local domain. */
export function isHostPostmaster(address: string, route: PostmasterRoute): boolean {
  const parsed = parseAddress(address);
  return parsed.ok && parsed.value.domain === route.hostname &&
    isPostmasterLocal(parsed.value.local);
}

async function postmasterTargets(db: Queryable, route: PostmasterRoute): Promise<Target[]> {
  const configured = route.account ? await findAccountByAddress(db, route.account) : undefined;
  if (configured && !configured.disabled) return [accountTarget(configured)];
  const row = await rawSql(db).get<{ address: string }>(
    "SELECT address FROM accounts WHERE role = 'admin' AND disabled = 0 ORDER BY id LIMIT 1",
  );
  const admin = row ? await findAccountByAddress(db, row.address) : undefined;
  return admin ? [accountTarget(admin)] : [];
}

/**
 * Whether an account, alias or catch-all here takes `address` (the RCPT check). A yes is
 * remembered for a few seconds (store/read_cache.ts: emptied when accounts, aliases or domains
 * change); a no is asked again each time.
 */
export async function servesRecipient(
  db: Queryable,
  address: string,
  postmaster?: PostmasterRoute,
): Promise<boolean> {
  return await readCaches(db).recipients.get(
    address,
    async () => ((await resolveRecipient(db, address, postmaster))?.length ?? 0) > 0,
    (served) => served,
  );
}

/** Resolves one local address to its final targets; empty when nobody takes it. */
export async function resolveRecipient(
  db: Queryable,
  input: string,
  postmaster?: PostmasterRoute,
  depth = 0,
): Promise<Target[] | undefined> {
  const parsed = parseAddress(input);
  if (!parsed.ok) return undefined;
  const { local, domain, address } = parsed.value;
  const dom = await findDomain(db, domain);
  if (!dom) {
    if (postmaster && isHostPostmaster(address, postmaster)) {
      return await postmasterTargets(db, postmaster);
    }
    return depth > 0 ? [{ kind: "remote", address }] : undefined;
  }

  const account = await findAccountByAddress(db, address);
  if (account && !account.disabled) {
    return [accountTarget(account)];
  }

  const aliasTargets = async (key: string) => {
    const [alias] = await db.select().from(schema.aliases).where(
      eq(schema.aliases.addressKey, key),
    );
    if (!alias || depth >= MAX_ALIAS_DEPTH) return undefined;
    const out: Target[] = [];
    for (const target of JSON.parse(alias.targets) as string[]) {
      out.push(...(await resolveRecipient(db, target, postmaster, depth + 1) ?? []));
    }
    return out;
  };
  const direct = await aliasTargets(addressKey(address));
  if (direct) return direct;

  // Plus-addressing: user+tag@domain reaches user@domain (and its aliases).
  const { base, tag } = splitPlus(local);
  if (tag !== undefined) {
    const baseAddress = `${base}@${domain}`;
    const baseAccount = await findAccountByAddress(db, baseAddress);
    if (baseAccount && !baseAccount.disabled) return [accountTarget(baseAccount)];
    const viaAlias = await aliasTargets(addressKey(baseAddress));
    if (viaAlias) return viaAlias;
  }

  // Before the catch-all: postmaster mail is for whoever runs the server (RFC 5321 4.5.1).
  if (postmaster && isPostmasterLocal(local)) {
    const targets = await postmasterTargets(db, postmaster);
    if (targets.length > 0) return targets;
  }

  if (dom.catchAllAccountId) {
    const [catchAll] = await db.select().from(schema.accounts).where(and(
      eq(schema.accounts.id, dom.catchAllAccountId),
      eq(schema.accounts.disabled, false),
    ));
    if (catchAll) return [accountTarget(catchAll)];
  }
  return [];
}

/** True when the domain is one this server delivers for. */
export async function isLocalDomain(db: Queryable, domain: string): Promise<boolean> {
  return (await findDomain(db, domain)) !== undefined;
}

/** The mailbox a delivery goes to; remembered (store/read_cache.ts) as every message asks. */
async function mailboxFor(
  db: Queryable,
  accountId: number,
  role: "inbox" | "junk",
): Promise<number> {
  const id = await readCaches(db).mailboxes.get(`${accountId} ${role}`, async () => {
    // The Inbox is the fallback when the wanted role's mailbox is missing.
    const box = await rawSql(db).get<{ id: number }>(
      `SELECT id FROM mailboxes WHERE account_id = ? AND role IN (?, 'inbox')
       ORDER BY role = ? DESC LIMIT 1`,
      [accountId, role, role],
    );
    return box ? Number(box.id) : null;
  }, (found) => found !== null);
  if (id === null) throw new Error(`account ${accountId} has no inbox`);
  return id;
}

export interface PreparedDelivery {
  msg: InboundMessage;
  parsed: ParsedMail;
  sha: string;
  deliveryKey: string;
  now: number;
}

/** Parses and hashes outside the write lock, so the transaction holds it only to write. */
export async function prepareDelivery(deps: Deps, msg: InboundMessage): Promise<PreparedDelivery> {
  const parsed: ParsedMail = msg.parsed ?? await deps.mime.parse(msg.raw);
  const sha = await sha256Hex(msg.raw);
  return {
    msg,
    parsed,
    sha,
    // Only local deliveries are deduplicated by this key; a send to remote recipients needs none.
    deliveryKey: msg.recipients.length > 0
      ? await deliveryKeyFor(
        parsed.messageId,
        msg.traceBytes ? await sha256Hex(msg.raw.subarray(msg.traceBytes)) : sha,
      )
      : "",
    now: msg.internalDate ?? deps.clock.now(),
  };
}

export interface DeliveryOutcome {
  results: RecipientResult[];
  /** Accounts whose mailboxes changed (to notify once the transaction has committed). */
  touchedAccounts: number[];
}

/** Where one recipient's message goes, in the order its targets were resolved. */
type Route =
  | { kind: "forward" }
  /** `first`: the message's first target on this account (it decides, later ones follow). */
  | { kind: "account"; accountId: number; first: boolean };

/** What the reads before a delivery decided: the write job is built from it. */
interface DeliveryPlan {
  /** Per recipient: a rejection decided by the reads, or its routes. */
  recipients: (RecipientResult | Route[])[];
  /** Accounts to store into (their mailbox), and those the quota already refused. */
  stores: Map<number, { mailboxId: number; address: string; flags?: Flags } | RecipientResult>;
  remote: string[];
}

/**
 * The reads that decide a delivery (recipient resolution, mailbox ids, a first quota check),
 * made before the write: the write job re-checks quota and duplicates in SQL (storeMessageJob).
 */
async function planDelivery(
  db: Queryable,
  deps: Deps,
  prepared: PreparedDelivery,
  reserved?: DeliveryJobOptions["reserved"],
): Promise<DeliveryPlan> {
  const { msg } = prepared;
  const size = msg.raw.byteLength;
  const plan: DeliveryPlan = { recipients: [], stores: new Map(), remote: [] };
  const postmaster = postmasterRoute(deps.config);
  for (const recipient of msg.recipients) {
    // issue21#3: SRS bounces return to their sender, accounts' forwarding adds targets.
    const targets = await routeRecipient(
      deps,
      db,
      recipient,
      msg.mailboxRole === "junk",
      () => resolveRecipient(db, recipient, postmaster),
      (address) => resolveRecipient(db, address, postmaster, 1),
    );
    if (!targets || targets.length === 0) {
      plan.recipients.push({
        recipient,
        status: "rejected",
        code: targets ? "no_such_recipient" : "relay_denied",
        reason: targets ? "no such mailbox here" : "not a local domain",
      });
      continue;
    }
    const routes: Route[] = [];
    for (const target of targets) {
      if (target.kind === "remote") {
        plan.remote.push(target.address);
        routes.push({ kind: "forward" });
        continue;
      }
      const first = !plan.stores.has(target.accountId);
      routes.push({ kind: "account", accountId: target.accountId, first });
      if (!first) continue;
      const { quotaBytes } = target.quota;
      const usedBytes = target.quota.usedBytes +
        (reserved?.accountId === target.accountId ? reserved.bytes : 0);
      plan.stores.set(
        target.accountId,
        quotaBytes > 0 && usedBytes + size > quotaBytes && !target.quota.mayBeOld
          ? quotaRefusal(target.address)
          : {
            mailboxId: await mailboxFor(db, target.accountId, msg.mailboxRole ?? "inbox"),
            address: target.address,
          },
      );
    }
    plan.recipients.push(routes);
  }
  return plan;
}

const quotaRefusal = (address: string): RecipientResult => ({
  recipient: address,
  status: "rejected",
  code: "quota_exceeded",
  temporary: true,
  reason: `the mailbox of ${address} is full`,
});

/** A delivery as one write job: its statements and how to read the outcome from their results. */
export interface DeliveryJob {
  statements: Statement[];
  /** The outcome, from the results of `statements` (`results[0]` is the first one's). */
  decode(results: ResultSet[]): DeliveryOutcome;
  /** The outcome if every copy the reads allowed is stored (ids unknown): with `assertStored`. */
  expected: DeliveryOutcome;
  /** Drops what was written ahead for the job (staged blob chunks) when it did not commit. */
  discard(): Promise<void>;
  /** Per account: what its stored copy holds, for the search indexer once committed. */
  searchTexts: Map<number, SearchText>;
}

/** What else a delivery job carries (a send's). */
export interface DeliveryJobOptions {
  /** Remote recipients to queue in the same job. */
  outbound?: OutboundInput;
  /** Their `message_ref`: the Sent copy an earlier step of the job stores, as SQL. */
  messageRef?: SqlValue;
  /** The caller's job already puts the blob. */
  blobWritten?: boolean;
  /** Bytes the caller's job adds to an account before the delivery (a Sent copy): quota. */
  reserved?: { accountId: number; bytes: number };
  /**
   * Fail the whole job (assertStep) when a copy the reads allowed is refused when it runs (the
   * quota filled meanwhile): for a caller that records `expected` in the same job.
   */
  assertStored?: boolean;
}

/**
 * The write job of a delivery, after the reads that decide it (made on `db`): the blob once,
 * one store job per account (each guarded in SQL against a second delivery and a full quota),
 * the outbox rows of forwarded recipients and of `outbound` (a submission's remote recipients).
 */
export async function deliveryJob(
  db: Queryable,
  deps: Deps,
  prepared: PreparedDelivery,
  options: DeliveryJobOptions = {},
): Promise<DeliveryJob> {
  const { outbound, messageRef, blobWritten, assertStored, reserved } = options;
  const plan = await planDelivery(db, deps, prepared, reserved);
  const { msg, parsed, sha, deliveryKey, now } = prepared;
  const stored: ParsedMail & Record<string, unknown> = msg.authentication
    ? { ...parsed, authentication: msg.authentication }
    : parsed;
  // ── Spam verdict (issue 21 item 1, services/spam_verdict.ts): may refuse an account's copy or
  // file it into Junk; each account's copy carries its X-Spam fields. Before the user rules.
  const spam = await spamStep(
    db,
    deps,
    msg,
    stored,
    plan.stores,
    (id) => mailboxFor(db, id, "junk"),
    plan.remote.length > 0,
  );
  const copyOf = (accountId: number) =>
    spam?.copies.get(accountId) ?? { raw: msg.raw, sha, parsed: stored };
  // --- Sieve (issue 21 item 2): the user's rules reshape the plan (sieve_delivery.ts). ---
  const sieve = await applySieve(
    db,
    deps,
    prepared,
    plan,
    stored,
    (id) => spam?.copies.get(id),
  );
  const statements: Statement[] = [];
  const jobs: { accountId: number; address: string; at: number; job: StoreJob }[] = [];
  const searchTexts = new Map<number, SearchText>();
  // The blobs go in when anything refers to them: a stored copy, a queued one.
  // Each blob is sealed under one account's data key (crypt/vault.ts): an account's own copy
  // under its key, the shared original under the first recipient account's (or the sender's).
  const needed = new Map<string, { raw: Uint8Array; owner: number }>();
  if (!blobWritten) {
    for (const [accountId, target] of plan.stores) {
      if (!("mailboxId" in target)) continue;
      const copy = copyOf(accountId);
      if (!needed.has(copy.sha)) needed.set(copy.sha, { raw: copy.raw, owner: accountId });
    }
    if (
      !needed.has(sha) &&
      (plan.remote.length > 0 || (outbound !== undefined && outbound.recipients.length > 0) ||
        sieve.needsBlob)
    ) {
      const owner = [...plan.stores].find(([, t]) => "mailboxId" in t)?.[0] ??
        outbound?.accountId ?? 0;
      needed.set(sha, { raw: msg.raw, owner });
    }
  }
  const blobWrites = await Promise.all(
    [...needed].map(([hash, { raw, owner }]) => blobJob(deps.store, raw, hash, owner)),
  );
  const blob = () => {
    if (statements.length > 0) return;
    for (const write of blobWrites) statements.push(...write.statements);
  };
  for (const [accountId, target] of plan.stores) {
    if (!("mailboxId" in target)) continue;
    blob();
    const copy = copyOf(accountId);
    const job = await sealedStoreJob(deps.store, {
      accountId,
      mailboxId: target.mailboxId,
      blobSha256: copy.sha,
      size: copy.raw.byteLength,
      parsed: copy.parsed,
      flags: target.flags ?? msg.flags,
      internalDate: now,
      deliveryKey,
      quotaGuard: true,
    });
    jobs.push({ accountId, address: target.address, at: statements.length, job });
    searchTexts.set(accountId, {
      accountId,
      blobSha256: copy.sha,
      parsedJson: job.parsedJson,
      sealed: job.sealed,
    });
    statements.push(...job.statements);
    if (assertStored) {
      statements.push(assertStep(
        "EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ? AND delivery_key = ?)",
        [target.mailboxId, deliveryKey],
      ));
    }
  }
  if (blobWrites.length > 0) blob(); // before Sieve's statements, which may be the first
  statements.push(...sieve.statements); // Sieve's copies, replies and vacation log.
  if (plan.remote.length > 0) {
    blob();
    // issue21#3: forwarded copies leave with an SRS sender and an ARC seal (forwarding/).
    statements.push(
      ...await forwardStatements(deps, db, {
        outbound: {
          accountId: null,
          blobSha256: sha,
          messageIdHeader: parsed.messageId,
          mailFrom: msg.mailFrom,
          recipients: [...new Set(plan.remote)],
          now,
        },
        forwardDomain: forwardDomainOf(
          msg.recipients,
          (i) => {
            const routes = plan.recipients[i];
            return Array.isArray(routes) && routes.some((r) => r.kind === "forward");
          },
        ),
        authentication: msg.authentication,
      }),
    );
  }
  if (outbound && outbound.recipients.length > 0) {
    blob();
    statements.push(...enqueueStatements(deps, outbound, messageRef));
  }
  // issue21#4: the DMARC evaluation counted for the sender's aggregate report (reports/).
  const dmarcCount = statements.length > 0 && msg.source === "smtp"
    ? dmarcCountStatement(msg.authentication, now)
    : undefined;
  if (dmarcCount) statements.push(dmarcCount);
  if (statements.length > 0 && msg.source === "smtp") {
    statements.push(
      ...await receivedReportStatements(deps, db, msg.raw, msg.recipients, parsed, now),
    );
  }
  for (const hash of needed.keys()) {
    // Every copy a duplicate (a retry whose trace fields differ) or refused: the blob written
    // above is nobody's, so it goes in the same job rather than waiting for a sweep.
    statements.push({ sql: `DELETE FROM blobs WHERE sha256 = ? AND ${BLOB_UNUSED}`, args: [hash] });
  }
  if (spam) statements.push(...spam.statements);
  /** Each recipient's result from each account's (`stored` gives those that were written). */
  const outcome = (storedBy: (j: (typeof jobs)[number]) => StoreOutcome): DeliveryOutcome => {
    const byAccount = new Map<number, RecipientResult>();
    for (const [accountId, target] of plan.stores) {
      if (!("mailboxId" in target)) byAccount.set(accountId, target);
    }
    for (const j of jobs) {
      const { accountId, address } = j;
      const copy = storedBy(j);
      byAccount.set(
        accountId,
        "refused" in copy
          ? copy.refused === "quota" ? quotaRefusal(address) : {
            recipient: "",
            status: "rejected",
            code: "no_such_recipient",
            reason: "no such mailbox here",
          }
          : {
            recipient: "",
            status: copy.duplicate ? "duplicate" : "delivered",
            accountId,
            messageId: copy.id,
          },
      );
    }
    return {
      results: plan.recipients.map((routes, i) => {
        if (!Array.isArray(routes)) return routes;
        const recipient = msg.recipients[i];
        let result: RecipientResult | undefined;
        for (const route of routes) {
          if (route.kind === "forward") {
            result ??= { recipient, status: "forwarded" };
            continue;
          }
          const r = { ...byAccount.get(route.accountId)!, recipient };
          const stored = r.status === "delivered" || r.status === "duplicate";
          // A delivered copy wins over a forward in what the sender is told.
          if (
            route.first && stored &&
            (!result || result.status === "forwarded" || result.status === "rejected")
          ) result = r;
          else result ??= r;
        }
        return result!;
      }),
      touchedAccounts: [...byAccount].filter(([, r]) => r.status === "delivered").map(([id]) => id),
    };
  };
  const expected: StoreOutcome = {
    id: 0,
    uid: 0,
    modseq: 0,
    mailboxId: 0,
    threadId: 0,
    duplicate: false,
  };
  return {
    statements,
    decode: (results) => outcome((j) => j.job.decode(results, j.at)),
    // Only a send reads it: not built on the SMTP delivery path.
    get expected() {
      return outcome(() => expected);
    },
    discard: async () => {
      await Promise.all(blobWrites.map((write) => write.discard()));
    },
    searchTexts,
  };
}

/**
 * Runs a delivery job in one round trip (none when nothing is to be written). `offLoop`: on the
 * store's writer thread where it runs marked jobs there (Store `writerThreadJobs`).
 */
export async function runDeliveryJob(
  deps: Deps,
  job: DeliveryJob,
  offLoop = false,
): Promise<DeliveryOutcome> {
  if (job.statements.length === 0) return job.decode([]);
  let outcome: DeliveryOutcome;
  try {
    outcome = job.decode(await deps.store.batch(job.statements, { offLoop }));
  } catch (error) {
    await job.discard().catch(() => {});
    throw error;
  }
  // Committed: the indexer takes the new rows' text from here instead of reading it back.
  for (const r of outcome.results) {
    const text = r.status === "delivered" ? job.searchTexts.get(r.accountId!) : undefined;
    if (text && r.messageId !== undefined) hintSearchText(deps.store, r.messageId, text);
  }
  return outcome;
}

/** Runs the pipeline for one message and its recipients; answers after the commit. */
export async function deliver(deps: Deps, msg: InboundMessage): Promise<RecipientResult[]> {
  const size = msg.raw.byteLength;
  if (size > deps.config.maxMessageBytes) {
    return msg.recipients.map((recipient) => ({
      recipient,
      status: "rejected",
      code: "message_too_large",
      reason: `the message exceeds ${deps.config.maxMessageBytes} bytes`,
    }));
  }
  const prepared = await prepareDelivery(deps, msg);
  // Reads first, then one write job in one round trip (DESIGN.md, "Storage and scale").
  // issue 20 (ingest20): MX mail's job runs off the event loop, where the host offers it.
  const outcome = await runDeliveryJob(
    deps,
    await deliveryJob(deps.store.db, deps, prepared),
    msg.source === "smtp" && !msg.submission,
  );
  for (const accountId of outcome.touchedAccounts) deps.bus.notify(accountId);
  deps.logger.log("info", "delivery.done", {
    source: msg.source,
    size,
    recipients: msg.recipients.length,
    delivered: outcome.results.filter((r) => r.status === "delivered").length,
  });
  return outcome.results;
}

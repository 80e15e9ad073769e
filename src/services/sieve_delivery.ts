/**
 * Sieve at delivery (issue 21 item 2; DESIGN.md's pipeline: … → spam verdict → **user rules** →
 * store): for each local account a message is stored for, the managed rules (sieve_rules.ts)
 * and then the account's active script run over the message (with the spam verdict's X-Spam-*
 * fields already in its header), and what they decide reshapes the delivery plan before its
 * single write job: the copy's mailbox and flags, more copies (fileinto, a local redirect),
 * remote redirects on the plan's forwarding path (`plan.remote`, the path aliases take), a
 * per-recipient refusal (reject/ereject: 550 at DATA, or a DSN where no session can say it,
 * RFC 5429 section 2.1), and a vacation reply through the outbox (RFC 5230). Every statement
 * joins the delivery's one job. A script that fails at run time keeps the message in the planned
 * mailbox and logs why: mail is never lost to a script (RFC 5228 section 2.10.6).
 *
 * Compiled scripts are cached per account under the versions read with each delivery (one
 * query for all its accounts), so another process's change is seen at the next message.
 */
import type { ParsedMail } from "../../schemas/mail.ts";
import type { Deps } from "../deps.ts";
import { parseHeaderBlock } from "../mime/header_block.ts";
import { buildDsn } from "../mime/dsn.ts";
import { randomToken } from "../crypto.ts";
import type { SieveMessage, SieveOutcome } from "../sieve/context.ts";
import { runSieve } from "../sieve/interpreter.ts";
import { parseScript, type Program } from "../sieve/validate.ts";
import { composeVacation, decideVacation } from "../sieve/vacation.ts";
import { IN_JSON, jsonList } from "../store/in_list.ts";
import { type Queryable, rawSql, type Statement, type Store } from "../store/store.ts";
import { remember } from "../store/read_scope.ts";
import type { Flags } from "./message_store.ts";
import { sealedStoreJob } from "./message_store.ts";
import type { PreparedDelivery, RecipientResult } from "./delivery.ts";
import { resolveRecipient } from "./delivery.ts";
import { dsnStatements, vacationStatements } from "./sieve_vacation.ts";

/** What of the delivery plan Sieve reads and reshapes (delivery.ts `DeliveryPlan`). */
export interface SievePlan {
  recipients: (RecipientResult | { kind: string; accountId?: number }[])[];
  stores: Map<number, { mailboxId: number; address: string; flags?: Flags } | RecipientResult>;
  remote: string[];
}

export interface SieveEffects {
  /** Statements to run after the planned copies (more copies, replies, the vacation log). */
  statements: Statement[];
  /** Those statements refer to the message's blob. */
  needsBlob: boolean;
}

interface Compiled {
  key: string;
  programs: Program[];
}

/**
 * Per store and process; an entry is trusted only while the versions read with the delivery
 * match its `key` (a script's id, version and change time: ids are never reused).
 */
const compiledCaches = new WeakMap<object, Map<number, Compiled>>();
const MAX_CACHED = 2000;

/**
 * Which accounts have Sieve to run and at which versions: `account:kind id.version.changed`,
 * comma-separated, in a stable order ("" when none has any).
 */
const STATE_SQL = `SELECT coalesce(group_concat(k, ','), '') AS state FROM (
  SELECT account_id || ':m' || account_id || '.' || version || '.' || updated_at AS k
    FROM sieve_managed WHERE account_id IN ${IN_JSON} AND script <> ''
  UNION ALL SELECT account_id || ':u' || id || '.' || version || '.' || updated_at
    FROM sieve_scripts WHERE account_id IN ${IN_JSON} AND active = 1
  ORDER BY 1)`;

/** Empties this process's remembered Sieve state after a change (sieve_scripts.ts, sieve_rules.ts). */
export function forgetSieveState(store: Store): void {
  store.caches.local.invalidate();
  store.caches.scoped.invalidate();
}

/** The programs to run per account, by the versions in the store now. */
async function programsFor(
  deps: Deps,
  db: Queryable,
  accountIds: number[],
): Promise<Map<number, Program[]>> {
  const out = new Map<number, Program[]>();
  let compiledCache = compiledCaches.get(deps.store);
  if (!compiledCache) compiledCaches.set(deps.store, compiledCache = new Map());
  if (accountIds.length === 0) return out;
  const ids = jsonList(accountIds);
  // Remembered like the account rows (store/read_scope.ts): steady-state deliveries read nothing
  // here, and a scoped request's write job re-checks that the state it used still holds.
  const state = await remember(
    db,
    `sieve ${ids}`,
    async () =>
      String((await rawSql(db).get<{ state: string }>(STATE_SQL, [ids, ids]))?.state ?? ""),
    (value) => ({ condition: `(${STATE_SQL}) = ?`, args: [ids, ids, value] }),
  );
  if (state === "") return out;
  const keys = new Map<number, string[]>();
  for (const part of state.split(",")) {
    const [accountId, key] = part.split(":");
    const list = keys.get(Number(accountId)) ?? [];
    list.push(key);
    keys.set(Number(accountId), list);
  }
  for (const [accountId, parts] of keys) {
    const key = parts.join(",");
    const cached = compiledCache.get(accountId);
    if (cached?.key === key) {
      out.set(accountId, cached.programs);
      continue;
    }
    const texts = await rawSql(db).all<{ kind: string; script: string }>(
      `SELECT 'm' AS kind, script FROM sieve_managed WHERE account_id = ? AND script <> ''
       UNION ALL SELECT 'u', script FROM sieve_scripts WHERE account_id = ? AND active = 1`,
      [accountId, accountId],
    );
    // The managed rules first (they may `stop`), then the user's own script.
    texts.sort((a, b) => a.kind === "m" ? -1 : b.kind === "m" ? 1 : 0);
    const programs: Program[] = [];
    for (const t of texts) {
      const parsed = parseScript(String(t.script));
      // Stored scripts were validated; one that no longer is (an older rule set) is skipped.
      if (parsed.ok) programs.push(parsed.program);
    }
    if (compiledCache.size >= MAX_CACHED) compiledCache.clear();
    compiledCache.set(accountId, { key, programs });
    out.set(accountId, programs);
  }
  return out;
}

/** The header, body and envelope a run sees. */
function sieveMessage(
  prepared: PreparedDelivery,
  to: string,
  now: number,
): SieveMessage {
  const { msg, parsed } = prepared;
  const parts = [];
  if (parsed.text !== undefined) parts.push({ contentType: "text/plain", text: parsed.text });
  if (parsed.html !== undefined) parts.push({ contentType: "text/html", text: parsed.html });
  let raw = "";
  const text = new TextDecoder().decode(msg.raw.subarray(0, 1024 * 1024));
  const end = text.search(/\r?\n\r?\n/);
  if (end >= 0) raw = text.slice(end).replace(/^\r?\n\r?\n/, "");
  // The spam verdict's X-Spam-* fields, when the pipeline added them to the parsed form only.
  const headers = parseHeaderBlock(msg.raw);
  const have = new Set(headers.map((h) => h.name.toLowerCase()));
  for (const h of parsed.headers) {
    if (/^x-spam-/i.test(h.name) && !have.has(h.name.toLowerCase())) headers.unshift(h);
  }
  return {
    headers,
    envelope: { from: msg.mailFrom, to },
    size: msg.raw.byteLength,
    body: { parts, raw },
    now,
  };
}

function findMailbox<T extends { name: string; role: string | null }>(boxes: T[], name: string) {
  if (name.toUpperCase() === "INBOX") return boxes.find((b) => b.role === "inbox");
  return boxes.find((b) => b.name === name) ??
    boxes.find((b) => b.name.toLowerCase() === name.toLowerCase());
}

/** IMAP system flags and keywords (RFC 5232 section 3) as the store keeps them. */
function toFlags(list: string[]): Flags {
  const flags: Flags = { keywords: [] };
  for (const f of list) {
    const l = f.toLowerCase();
    if (l === "\\seen") flags.seen = true;
    else if (l === "\\flagged") flags.flagged = true;
    else if (l === "\\answered") flags.answered = true;
    else if (l === "\\draft") flags.draft = true;
    else if (l === "\\deleted") flags.deleted = true;
    else if (!l.startsWith("\\") && /^[\x21-\x7e]+$/.test(f)) flags.keywords!.push(f);
  }
  return flags;
}

/**
 * Runs Sieve for every account of the plan that has a script, reshaping `plan` in place;
 * answers the statements the delivery job adds. Never throws for a script's fault.
 */
export async function applySieve(
  db: Queryable,
  deps: Deps,
  prepared: PreparedDelivery,
  plan: SievePlan,
  stored: ParsedMail & Record<string, unknown>,
  /** Each account's copy from the spam verdict (its X-Spam fields), which the rules test. */
  copyOf?: (accountId: number) => { raw: Uint8Array; parsed: ParsedMail } | undefined,
): Promise<SieveEffects> {
  const effects: SieveEffects = { statements: [], needsBlob: false };
  const accounts = [...plan.stores].filter(([, t]) => "mailboxId" in t).map(([id]) => id);
  if (accounts.length === 0 || prepared.msg.source === "import") return effects;
  const programs = await programsFor(deps, db, accounts);
  if (programs.size === 0) return effects;
  const { msg, sha, deliveryKey, now } = prepared;
  for (const [accountId, programList] of programs) {
    const target = plan.stores.get(accountId);
    if (!target || !("mailboxId" in target) || programList.length === 0) continue;
    const to = originalRecipient(plan, msg.recipients, accountId) ?? target.address;
    const boxes = await rawSql(db).all<{ id: number; name: string; role: string | null }>(
      "SELECT id, name, role FROM mailboxes WHERE account_id = ?",
      [accountId],
    );
    const copy = copyOf?.(accountId);
    const seen = copy
      ? { ...prepared, msg: { ...msg, raw: copy.raw }, parsed: copy.parsed }
      : prepared;
    const ctx = sieveMessage(seen, to, deps.clock.now());
    let outcome: SieveOutcome;
    try {
      outcome = runSieve(programList, ctx, {
        maxSteps: 10_000,
        maxRedirects: deps.config.sieveMaxRedirects,
      });
    } catch (e) {
      deps.logger.log("warn", "sieve.runtime_error", {
        accountId,
        error: (e as Error).message,
        action: "implicit keep",
      });
      continue;
    }
    for (const note of outcome.notes) deps.logger.log("info", "sieve.note", { accountId, note });

    if (outcome.reject) {
      plan.stores.set(accountId, {
        recipient: "",
        status: "rejected",
        code: "rejected_by_recipient",
        reason: outcome.reject.reason.replace(/\s+/g, " ").trim().slice(0, 400) ||
          "rejected by the recipient's filter",
      });
      effects.statements.push(
        ...await rejectionDsn(deps, db, prepared, plan, accountId, to, outcome),
      );
      deps.logger.log("info", "sieve.reject", { accountId });
      continue;
    }

    // The copies: keep into the planned mailbox (Inbox or Junk), fileinto by name.
    const copies = new Map<number, string[]>();
    const add = (mailboxId: number, flags: string[]) =>
      copies.set(mailboxId, [...(copies.get(mailboxId) ?? []), ...flags]);
    if (outcome.keep) add(target.mailboxId, outcome.keep.flags);
    for (const f of outcome.fileinto) {
      const box = findMailbox(boxes, f.mailbox);
      if (!box) {
        // No such mailbox: the message is kept where it was going, never lost.
        deps.logger.log("info", "sieve.fileinto_unknown", { accountId, mailbox: f.mailbox });
        add(target.mailboxId, f.flags);
        continue;
      }
      add(Number(box.id), f.flags);
    }
    const [primary, ...extra] = [...copies];
    if (primary) {
      plan.stores.set(accountId, { ...target, mailboxId: primary[0], flags: toFlags(primary[1]) });
    } else {
      plan.stores.set(accountId, {
        recipient: "",
        status: outcome.redirects.length > 0 ? "forwarded" : "delivered",
        accountId,
      });
    }
    for (const [mailboxId, flags] of extra) {
      effects.needsBlob = true;
      effects.statements.push(
        ...(await sealedStoreJob(deps.store, {
          accountId,
          mailboxId,
          blobSha256: sha,
          size: msg.raw.byteLength,
          parsed: stored,
          flags: toFlags(flags),
          internalDate: now,
          deliveryKey,
          quotaGuard: true,
        })).statements,
      );
    }

    // Redirects: remote addresses take the forwarding path; local ones are stored for their
    // account directly (its Inbox; its own rules do not run again, which also stops loops).
    for (const address of outcome.redirects) {
      const targets = await resolveRecipient(db, address);
      if (targets === undefined) {
        plan.remote.push(address);
        continue;
      }
      for (const t of targets) {
        if (t.kind === "remote") plan.remote.push(t.address);
        else if (t.accountId !== accountId || !primary) {
          const inbox = await rawSql(db).get<{ id: number }>(
            "SELECT id FROM mailboxes WHERE account_id = ? AND role = 'inbox'",
            [t.accountId],
          );
          if (!inbox) continue;
          effects.needsBlob = true;
          effects.statements.push(
            ...(await sealedStoreJob(deps.store, {
              accountId: t.accountId,
              mailboxId: Number(inbox.id),
              blobSha256: sha,
              size: msg.raw.byteLength,
              parsed: stored,
              internalDate: now,
              deliveryKey,
              quotaGuard: true,
            })).statements,
          );
        }
      }
    }

    if (outcome.vacation) {
      const own = [target.address, to];
      const decision = decideVacation({ request: outcome.vacation, msg: ctx, own });
      if (!decision.send) {
        deps.logger.log("info", "sieve.vacation_skipped", { accountId, why: decision.why });
      } else {
        const reply = composeVacation(decision, outcome.vacation, ctx, deps.config.hostname, now);
        const queued = await vacationStatements(deps, db, {
          accountId,
          handle: decision.handle,
          to: decision.to,
          days: outcome.vacation.days,
          raw: reply.raw,
          messageId: reply.messageId,
          now: deps.clock.now(),
        });
        effects.statements.push(...queued.statements);
        deps.logger.log("info", queued.skipped ? "sieve.vacation_skipped" : "sieve.vacation", {
          accountId,
          ...(queued.skipped ? { why: "answered within :days" } : {}),
        });
      }
    }
  }
  return effects;
}

/** The address as the client gave it (with its +detail) for the recipient routed to `accountId`. */
function originalRecipient(plan: SievePlan, recipients: string[], accountId: number) {
  const i = plan.recipients.findIndex((routes) =>
    Array.isArray(routes) && routes.some((r) => r.accountId === accountId)
  );
  return i >= 0 ? recipients[i] : undefined;
}

/**
 * RFC 5429 section 2.1: refuse in the protocol where a session can (an SMTP delivery whose other
 * recipients are all refused too answers 5xx at DATA); otherwise a DSN to the envelope sender,
 * queued in the same job. Never for a null sender (RFC 3464 section 2).
 */
async function rejectionDsn(
  deps: Deps,
  db: Queryable,
  prepared: PreparedDelivery,
  plan: SievePlan,
  accountId: number,
  to: string,
  outcome: SieveOutcome,
): Promise<Statement[]> {
  const { msg } = prepared;
  if (msg.mailFrom === "") return [];
  const othersAccepted =
    [...plan.stores].some(([id, t]) =>
      id !== accountId && ("mailboxId" in t || t.status !== "rejected")
    ) || plan.remote.length > 0;
  if (msg.source === "smtp" && !othersAccepted) return [];
  const hostname = deps.config.hostname;
  const messageId = `<dsn.${crypto.randomUUID()}@${hostname}>`;
  const end = new TextDecoder().decode(msg.raw.subarray(0, 256 * 1024)).search(/\r?\n\r?\n/);
  const raw = buildDsn({
    reportingMta: hostname,
    to: msg.mailFrom,
    messageId,
    boundary: `=_postern_dsn_${randomToken(12)}`,
    date: prepared.now,
    arrivalDate: prepared.now,
    recipients: [{
      finalRecipient: to,
      action: "failed",
      status: "5.7.1",
      diagnostic: `rejected by the recipient's filter: ${outcome.reject!.reason}`.slice(0, 400),
      diagnosticType: "X-Postern",
    }],
    originalHeaders: msg.raw.subarray(0, end >= 0 ? end : Math.min(msg.raw.byteLength, 65536)),
    originalMessageId: prepared.parsed.messageId,
  });
  return await dsnStatements(deps, db, {
    accountId,
    raw,
    to: msg.mailFrom,
    messageId,
    now: deps.clock.now(),
  });
}

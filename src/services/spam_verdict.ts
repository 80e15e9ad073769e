/**
 * The spam verdict step of the inbound pipeline (recipient lookup → policy → **spam verdict** →
 * user rules → store, services/delivery.ts), for mail from other servers (SMTP MX, SHARP/1.3,
 * federation). The message-level rules run once: the transport's authentication verdicts, the
 * HELO, DNS blocklists (spam_dnsbl.ts), content rules (src/spam/rules.ts), per-sender and
 * per-client-address rate counters. Then per recipient account: its Bayesian classifier (once
 * trained), the reputation bonus for senders it has written to, and its thresholds (account →
 * domain → config). Each account's copy gets `X-Spam-Status`/`X-Spam-Score` below the hop's
 * trace fields (receiving-hop fields like Authentication-Results: the duplicate key leaves them
 * out) and the verdict in its
 * JSON form (`spam`); a score at the reject threshold refuses that recipient (`spam_rejected`,
 * 550 5.7.1 over SMTP), one at the Junk threshold files it into Junk.
 *
 * Cost on the delivery path: the rules are string scans of bounded text; the reads are one
 * query (settings, correspondents, classifier sizes, rate counters) plus one for token counts
 * when an account's classifier is trained; the rate counters are bumped by the delivery's own
 * write job, so delivery stays one round trip.
 */
import type { ParsedMail } from "../../schemas/mail.ts";
import { sha256Hex } from "../crypto.ts";
import type { Deps } from "../deps.ts";
import type { Queryable, Statement } from "../store/store.ts";
import { rawSql } from "../store/store.ts";
import { bayesRule, classify, type TokenCounts } from "../spam/bayes.ts";
import { inNetworks, listSetting } from "../spam/ip.ts";
import { alignedSender, authTests, contentTests, heloTests, type SpamTest } from "../spam/rules.ts";
import { tokenize } from "../spam/tokenize.ts";
import { accountsWithPlainTokens, tokenHasher } from "../crypt/spam_tokens.ts";
import {
  isSpamFieldName,
  spamHeaderFields,
  spamHeaderText,
  type SpamVerdict,
  stripSpamFields,
  verdictOf,
} from "../spam/verdict.ts";
import type { InboundMessage, RecipientResult } from "./delivery.ts";
import { dnsblTests } from "./spam_dnsbl.ts";
import { accountScope, domainScope, effectiveSettings, settingsRow } from "./spam_settings.ts";
import { correspondentKey } from "./spam_reputation.ts";

/** What one account stores: its own bytes (with its X-Spam fields) and JSON form. */
export interface SpamCopy {
  raw: Uint8Array;
  sha: string;
  parsed: ParsedMail & Record<string, unknown>;
}

export interface SpamStep {
  /** Per account: the copy to store in place of the message as received. */
  copies: Map<number, SpamCopy>;
  /** Statements for the delivery's write job (rate counters). */
  statements: Statement[];
}

/** Where the delivery plan stores a message per account (delivery.ts `DeliveryPlan.stores`). */
type Stores = Map<number, { mailboxId: number; address: string } | RecipientResult>;

const SCORED = new Set(["smtp", "sharp", "federation"]);
const HOUR_MS = 3_600_000;
/** Expired counters removed per job that starts a new one. */
const SWEEP = 20;
/** The reputation bonus: a sender the account wrote to; more when it also authenticated. */
const KNOWN_SENDER = -2.0;
const KNOWN_SENDER_AUTH = -5.0;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** The message-level rules and what the per-account step needs from them. */
async function messageTests(deps: Deps, msg: InboundMessage, parsed: ParsedMail, ip?: string) {
  const trusted = ip ? inNetworks(ip, listSetting(deps.config.spamTrustedNetworks)) : false;
  const tests: SpamTest[] = [
    ...authTests(msg.authentication),
    ...(msg.source === "federation" ? [] : heloTests(str(msg.authentication?.helo))),
    ...contentTests(parsed),
    ...(trusted ? [] : await dnsblTests(deps, ip)),
  ];
  return { tests, trusted };
}

interface SpamReads {
  settings: Map<string, ReturnType<typeof settingsRow>>;
  known: Set<string>;
  stats: Map<number, { nspam: number; nham: number }>;
  rates: Map<string, number>;
}

/**
 * The one read's SQL. The rate counters are found by their keys (the primary key): `+` keeps
 * SQLite from the `window_start` index, which it preferred without statistics and which made
 * each delivery scan every counter of the hour (one per sender and client address: 50,000
 * distinct ones cost ~10 ms a message instead of ~5 µs).
 */
export const SPAM_READ_SQL = `SELECT
      (SELECT json_group_array(json_array(scope, junk_score, reject_score, enabled))
        FROM spam_settings WHERE scope IN (SELECT value FROM json_each(?1))) AS settings,
      (SELECT json_group_array(json_array(account_id, address)) FROM spam_correspondents
        WHERE account_id IN (SELECT value FROM json_each(?2))
        AND address IN (SELECT value FROM json_each(?3))) AS known,
      (SELECT json_group_array(json_array(account_id, nspam, nham)) FROM spam_stats
        WHERE account_id IN (SELECT value FROM json_each(?2))) AS stats,
      (SELECT json_group_array(json_array(key, count)) FROM spam_rates
        WHERE key IN (SELECT value FROM json_each(?4)) AND +window_start = ?5) AS rates`;

/** The one read: settings of the scopes, known senders, classifier sizes, rate counters. */
async function readAll(
  db: Queryable,
  scopes: string[],
  accounts: number[],
  senders: string[],
  rateKeys: string[],
  window: number,
): Promise<SpamReads> {
  const row = await rawSql(db).get<Record<string, string>>(
    SPAM_READ_SQL,
    [
      JSON.stringify(scopes),
      JSON.stringify(accounts),
      JSON.stringify(senders),
      JSON.stringify(rateKeys),
      window,
    ],
  );
  const list = (v: string | undefined) => JSON.parse(v ?? "[]") as unknown[][];
  return {
    settings: new Map(
      list(row?.settings).map(([scope, junk, reject, enabled]) => [
        String(scope),
        settingsRow({ junk_score: junk, reject_score: reject, enabled }),
      ]),
    ),
    known: new Set(list(row?.known).map(([id, address]) => `${id} ${address}`)),
    stats: new Map(
      list(row?.stats).map(([id, nspam, nham]) => [
        Number(id),
        { nspam: Number(nspam), nham: Number(nham) },
      ]),
    ),
    rates: new Map(list(row?.rates).map(([key, count]) => [String(key), Number(count)])),
  };
}

/**
 * Token counts of the trained accounts for `tokens`, per account, keyed by the token. Each
 * account's tokens are looked up as it stores them (keyed hashes under its own key with
 * encryption at rest: crypt/spam_tokens.ts); one query for all (a hash of one account's key
 * matching another account's row is as likely as an 80-bit collision).
 */
async function readTokens(db: Queryable, accounts: number[], tokens: string[]) {
  const stored = new Map<number, Map<string, string>>();
  const all = new Set<string>();
  const plain = await accountsWithPlainTokens(db);
  for (const id of accounts) {
    const hash = await tokenHasher(db, id);
    const names = new Map<string, string>();
    for (const t of tokens) {
      const h = hash(t);
      names.set(h, t);
      all.add(h);
      // A store trained before encryption keeps plaintext rows until `keys reencrypt` hashes
      // them (crypt/spam_tokens.ts): both count meanwhile, as the rewrite will add them up.
      if (h !== t && plain.has(id)) {
        names.set(t, t);
        all.add(t);
      }
    }
    stored.set(id, names);
  }
  const rows = await rawSql(db).all<
    { account_id: number; token: string; spam: number; ham: number }
  >(
    `SELECT account_id, token, spam, ham FROM spam_tokens
      WHERE account_id IN (SELECT value FROM json_each(?1))
      AND token IN (SELECT value FROM json_each(?2))`,
    [JSON.stringify(accounts), JSON.stringify([...all])],
  );
  const out = new Map<number, Map<string, TokenCounts>>();
  for (const r of rows) {
    const id = Number(r.account_id);
    const token = stored.get(id)?.get(r.token);
    if (token === undefined) continue;
    if (!out.has(id)) out.set(id, new Map());
    const counts = out.get(id)!;
    const before = counts.get(token);
    counts.set(token, {
      spam: Number(r.spam) + (before?.spam ?? 0),
      ham: Number(r.ham) + (before?.ham ?? 0),
    });
  }
  return out;
}

const domainOf = (address: string) => address.slice(address.lastIndexOf("@") + 1).toLowerCase();

/**
 * Decides each account's verdict and changes `stores` accordingly (a refusal, or the Junk
 * mailbox); undefined when the message is not scored (our own users' mail, imports, spam
 * filtering off).
 */
export async function spamStep(
  db: Queryable,
  deps: Deps,
  msg: InboundMessage,
  stored: ParsedMail & Record<string, unknown>,
  stores: Stores,
  junkBox: (accountId: number) => Promise<number>,
  forwardedElsewhere = false,
): Promise<SpamStep | undefined> {
  if (!SCORED.has(msg.source) || msg.submission) return undefined;
  const targets = [...stores].filter((e): e is [number, { mailboxId: number; address: string }] =>
    "mailboxId" in e[1]
  );
  if (targets.length === 0) return undefined;
  const ip = str(msg.authentication?.clientIp);
  const now = deps.clock.now();
  const window = Math.floor(now / HOUR_MS) * HOUR_MS;
  const fromKey = correspondentKey(stored.from?.address);
  const senderKey = correspondentKey(msg.mailFrom);
  const accounts = targets.map(([id]) => id);
  const scopes = targets.flatMap(([id, t]) => [accountScope(id), domainScope(domainOf(t.address))]);
  const [{ tests, trusted }, reads] = await Promise.all([
    messageTests(deps, msg, stored, ip),
    readAll(
      db,
      scopes,
      accounts,
      [fromKey, senderKey].filter((k): k is string => !!k),
      [senderKey ? `s:${senderKey}` : "", ip ? `i:${ip}` : ""].filter(Boolean),
      window,
    ),
  ]);
  const aligned = alignedSender(msg.authentication);
  const knows = (id: number) =>
    (fromKey !== undefined && reads.known.has(`${id} ${fromKey}`)) ||
    (senderKey !== undefined && reads.known.has(`${id} ${senderKey}`));

  // Rate limits (counted per message whatever its recipients; a known sender is not limited).
  const statements: Statement[] = [];
  const limits: [string, number][] = [];
  if (!trusted && msg.source !== "federation") {
    if (senderKey && deps.config.spamSenderPerHour > 0) {
      limits.push([`s:${senderKey}`, deps.config.spamSenderPerHour]);
    }
    if (ip && deps.config.spamIpPerHour > 0) limits.push([`i:${ip}`, deps.config.spamIpPerHour]);
  }
  const limited = limits.find(([key, max]) => (reads.rates.get(key) ?? 0) >= max);
  if (limits.length > 0) {
    statements.push({
      sql: `INSERT INTO spam_rates (key, window_start, count) SELECT value, ?1, 1
        FROM json_each(?2) WHERE true ON CONFLICT(key) DO UPDATE SET
        count = CASE WHEN spam_rates.window_start = excluded.window_start
          THEN spam_rates.count + 1 ELSE 1 END,
        window_start = excluded.window_start`,
      args: [window, JSON.stringify(limits.map(([key]) => key))],
    });
    // A counter new this hour: sweep a few of the past hours' (bounded, by the index).
    if (limits.some(([key]) => !reads.rates.has(key))) {
      statements.push({
        sql: `DELETE FROM spam_rates WHERE key IN
          (SELECT key FROM spam_rates WHERE window_start < ? LIMIT ${SWEEP})`,
        args: [window],
      });
    }
  }

  // The classifier, for the accounts trained enough.
  const min = deps.config.spamBayesMinMessages;
  const trained = accounts.filter((id) => {
    const s = reads.stats.get(id);
    return s !== undefined && s.nspam >= min && s.nham >= min;
  });
  const tokens = trained.length > 0 ? tokenize(stored) : [];
  const counts = trained.length > 0 ? await readTokens(db, trained, tokens) : new Map();

  const copies = new Map<number, SpamCopy>();
  const byHead = new Map<string, SpamCopy>();
  // The hop's own fields (Authentication-Results, Received) stay on top (RFC 8601 section 5);
  // the X-Spam fields go right below them, into the same receiving-hop block.
  const trace = msg.raw.subarray(0, msg.traceBytes ?? 0);
  const body = stripSpamFields(msg.raw.subarray(msg.traceBytes ?? 0));
  // First pass: each account's verdict (a rate limit answers for the account at once).
  const verdicts: [number, { mailboxId: number; address: string }, SpamVerdict][] = [];
  for (const [accountId, target] of targets) {
    const settings = effectiveSettings(
      deps.config,
      reads.settings.get(accountScope(accountId)),
      reads.settings.get(domainScope(domainOf(target.address))),
    );
    if (!settings.enabled) continue;
    const known = knows(accountId);
    if (limited && !known) {
      stores.set(accountId, {
        recipient: target.address,
        status: "rejected",
        code: "rate_limited",
        temporary: true,
        reason: `too many messages from ${limited[0].slice(2)} this hour; try again later`,
      });
      continue;
    }
    const own: SpamTest[] = [...tests];
    let probability: number | undefined;
    if (trained.includes(accountId)) {
      const s = reads.stats.get(accountId)!;
      probability = classify(tokens, counts.get(accountId) ?? new Map(), s.nspam, s.nham);
      if (probability !== undefined) {
        own.push({ ...bayesRule(probability), detail: probability.toFixed(4) });
      }
    }
    if (known) {
      own.push(
        aligned
          ? { name: "KNOWN_SENDER_AUTH", score: KNOWN_SENDER_AUTH }
          : { name: "KNOWN_SENDER", score: KNOWN_SENDER },
      );
    }
    // Never refuse an authenticated, aligned sender the user has written to.
    verdicts.push([accountId, target, verdictOf(own, settings, known && aligned, probability)]);
  }
  // RFC 5321 section 4.1.1.4: SMTP has one reply to the content for all recipients. When another
  // recipient takes the message, a refusal could only become a DSN to an envelope sender that
  // spam forges (backscatter, RFC 3834 section 2): the copy goes to Junk instead, never lost.
  const judged = new Set(verdicts.map(([id]) => id));
  const othersTake = forwardedElsewhere ||
    verdicts.some(([, , v]) => v.action !== "reject") ||
    [...stores].some(([id, t]) => "mailboxId" in t && !judged.has(id));
  const refusable = msg.source !== "smtp" || !othersTake;
  for (const [accountId, target, judgement] of verdicts) {
    let verdict = judgement;
    if (verdict.action === "reject" && refusable) {
      stores.set(accountId, {
        recipient: target.address,
        status: "rejected",
        code: "spam_rejected",
        reason: `message refused as spam (score ${verdict.score.toFixed(1)}: ${
          verdict.tests.filter((t) => t.score > 0).map((t) => t.name).slice(0, 6).join(", ")
        })`,
      });
      deps.logger.log("info", "spam.rejected", {
        accountId,
        score: verdict.score,
        source: msg.source,
      });
      continue;
    }
    if (verdict.action === "reject") {
      verdict = { ...verdict, action: "junk" };
      deps.logger.log("info", "spam.junk_not_refused", { accountId, score: verdict.score });
    }
    if (verdict.action === "junk" || msg.mailboxRole === "junk") {
      stores.set(accountId, { ...target, mailboxId: await junkBox(accountId) });
    }
    const head = spamHeaderText(verdict);
    let copy = byHead.get(head);
    if (!copy) {
      copy = await copyWith(trace, head, verdict, body, stored);
      byHead.set(head, copy);
    }
    copies.set(accountId, copy);
  }
  return { copies, statements };
}

/** The message with `head` below its trace fields and the verdict in its JSON form. */
async function copyWith(
  trace: Uint8Array,
  head: string,
  verdict: SpamVerdict,
  body: Uint8Array,
  stored: ParsedMail & Record<string, unknown>,
): Promise<SpamCopy> {
  const fields = encoder.encode(head);
  const raw = new Uint8Array(trace.byteLength + fields.byteLength + body.byteLength);
  raw.set(trace);
  raw.set(fields, trace.byteLength);
  raw.set(body, trace.byteLength + fields.byteLength);
  const others = (stored.headers ?? []).filter((h) => !isSpamFieldName(h.name));
  // The trace block's fields, in the same place in the JSON form as in the bytes.
  const traceFields = trace.byteLength === 0
    ? 0
    : latin1.decode(trace).split(/\r?\n(?![ \t])/).filter((f) => f.trim()).length;
  return {
    raw,
    sha: await sha256Hex(raw),
    parsed: {
      ...stored,
      headers: [
        ...others.slice(0, traceFields),
        ...spamHeaderFields(verdict),
        ...others.slice(traceFields),
      ],
      spam: verdict,
    },
  };
}

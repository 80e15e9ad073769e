/**
 * Mail handed in on the submission port (RFC 6409) by an authenticated account: the envelope
 * sender and the From header must be addresses the account may use; local recipients go through
 * the inbound pipeline and remote ones into the outbox, in one write job (one round trip: the
 * delivery job of delivery.ts with the outbox rows added), before the bridge may answer 250.
 * Like most servers, no Sent copy is stored: mail clients APPEND their own.
 * An `Idempotency-Key` field (transactional/smtp_idempotency.ts) is taken out of the message and
 * claimed and recorded in the same write job (still one round trip): a second submission with the
 * key gets the first result, whichever process or gateway it reaches.
 */
import { parseAddress } from "../../schemas/address.ts";
import type { SubmissionEnvelope } from "../../schemas/bridge.ts";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { findAccountByAddress, findDomain } from "./accounts.ts";
import { deliveryJob, prepareDelivery, type RecipientResult, runDeliveryJob } from "./delivery.ts";
import { correspondentStatement } from "./spam_reputation.ts";
import { assertMaySendAs } from "./send.ts";
import { relayKeyContext } from "../auth/relay_keys.ts";
import { assertSharpCanCarry } from "./sharp_route.ts";
import {
  canonical,
  checkKey,
  claimedResponse,
  claimKeyStatements,
  IdempotentReplay,
  replayAfterConflict,
} from "../transactional/idempotency.ts";
import { retryStale } from "../store/optimistic.ts";
import { submissionKey, takeIdempotencyField } from "../transactional/smtp_idempotency.ts";
import { recordTestSubmission } from "../transactional/test_mode.ts";

export interface SubmissionOutcome {
  results: RecipientResult[];
  /** The first result of an earlier submission with the same Idempotency-Key. */
  replayed: boolean;
}

export async function submitMessage(
  deps: Deps,
  envelope: SubmissionEnvelope,
  received: Uint8Array,
): Promise<SubmissionOutcome> {
  const account = await findAccountByAddress(deps.store.db, envelope.authenticatedAs);
  if (!account || account.disabled) {
    throw new AppError(403, "forbidden", "the submitting account is unknown");
  }
  const taken = takeIdempotencyField(received);
  const raw = taken.raw;
  if (new Set(taken.values).size > 1) {
    throw new AppError(
      422,
      "validation_failed",
      "the message has conflicting Idempotency-Key fields",
    );
  }
  const key = taken.values.length > 0
    ? await submissionKey(taken.values[0], envelope.mailFrom, envelope.recipients)
    : undefined;
  if (key) {
    try {
      await checkKey(deps.store.db, account.id, key, deps.clock.now());
    } catch (e) {
      if (e instanceof IdempotentReplay) {
        return { results: e.body as RecipientResult[], replayed: true };
      }
      throw e;
    }
  }
  if (raw.byteLength > deps.config.maxMessageBytes) {
    throw new AppError(
      413,
      "message_too_large",
      `the message exceeds ${deps.config.maxMessageBytes} bytes`,
    );
  }
  // Signed in with an API key (SMTP relay): the key's rights, re-checked now (auth/relay_keys.ts).
  const auth: AuthContext = envelope.apiKeyId
    ? await relayKeyContext(deps, envelope.apiKeyId, account.id)
    : {
      accountId: account.id,
      address: account.address,
      domainId: account.domainId,
      role: account.role,
      kind: "session",
      scopes: new Set(["send"]),
    };
  const parsed = await deps.mime.parse(raw);
  // RFC 6409 section 8: the submission server may check that the sender is authorised.
  if (envelope.mailFrom !== "") await assertMaySendAs(deps.store.db, auth, envelope.mailFrom);
  if (!parsed.from) throw new AppError(422, "validation_failed", "the message has no From header");
  await assertMaySendAs(deps.store.db, auth, parsed.from.address);

  const local: string[] = [];
  const remote: string[] = [];
  for (const rcpt of envelope.recipients) {
    const address = parseAddress(rcpt);
    if (!address.ok) throw new AppError(422, "validation_failed", `invalid recipient ${rcpt}`);
    if (await findDomain(deps.store.db, address.value.domain)) local.push(address.value.address);
    else remote.push(address.value.address);
  }
  // SHARP's sender is the author (bridge/sharp/outbound.ts), so the From address is checked.
  await assertSharpCanCarry(deps, parsed.from.address, remote);
  if (auth.testMode) {
    // SMTP relay with a test key: checked like a live submission, recorded, never delivered.
    try {
      const results = await recordTestSubmission(deps, auth, {
        from: parsed.from.address,
        subject: parsed.subject ?? "",
        messageId: parsed.messageId ?? "",
        recipients: [...local, ...remote],
      }, key);
      return { results, replayed: false };
    } catch (e) {
      if (e instanceof IdempotentReplay) {
        return { results: e.body as RecipientResult[], replayed: true };
      }
      throw e;
    }
  }
  const prepared = await prepareDelivery(deps, {
    raw,
    parsed,
    mailFrom: envelope.mailFrom,
    recipients: local,
    source: "smtp",
    submission: true,
  });
  // Who the account writes to earns a spam reputation bonus (issue 21 item 1).
  const known = correspondentStatement(account.id, [...local, ...remote], prepared.now);
  const outbound = {
    accountId: account.id,
    blobSha256: prepared.sha,
    messageIdHeader: parsed.messageId,
    mailFrom: envelope.mailFrom,
    recipients: remote,
    now: prepared.now,
  };
  const forwarded = remote.map((recipient) => ({ recipient, status: "forwarded" as const }));
  let outcome;
  if (!key) {
    // Reads first, then one write job in one round trip (DESIGN.md, "Storage and scale").
    const job = await deliveryJob(deps.store.db, deps, prepared, { outbound });
    if (known) job.statements.push(known);
    const delivered = await runDeliveryJob(deps, job);
    outcome = { ...delivered, results: [...delivered.results, ...forwarded] };
  } else {
    try {
      outcome = await retryStale(async () => {
        // One write job: the key is claimed first (a concurrent twin's claim breaks its unique
        // index and undoes that whole job), the delivery with every copy the reads allowed
        // asserted stored (a quota filled meanwhile undoes the job: read again), and the
        // answer recorded last, as the reads expect it.
        const job = await deliveryJob(deps.store.db, deps, prepared, {
          outbound,
          assertStored: true,
        });
        if (known) job.statements.push(known);
        const expected = [...job.expected.results, ...forwarded].map(firstResult);
        const claim = claimKeyStatements(deps, account.id, key);
        const results = await deps.store.batch([
          ...claim,
          ...job.statements,
          claimedResponse(account.id, key, 200, expected),
        ]).catch(async (e) => {
          await job.discard().catch(() => {});
          throw e;
        });
        const delivered = job.decode(results.slice(claim.length));
        const actual: RecipientResult[] = [...delivered.results, ...forwarded];
        if (canonical(actual.map(firstResult)) !== canonical(expected)) {
          // A copy stored before (same Message-ID and content) is a `duplicate`, which the
          // answer written ahead could not know: a second, rare job sets the record right.
          await deps.store.batch([claimedResponse(account.id, key, 200, actual.map(firstResult))]);
        }
        return { results: actual, touchedAccounts: delivered.touchedAccounts };
      }).catch((e) => replayAfterConflict(deps.store.db, account.id, key, deps.clock.now(), e));
    } catch (e) {
      if (e instanceof IdempotentReplay) {
        return { results: e.body as RecipientResult[], replayed: true };
      }
      throw e;
    }
  }
  for (const id of outcome.touchedAccounts) deps.bus.notify(id);
  return { results: outcome.results, replayed: false };
}

/** What a replay repeats of a result (not the internal ids of stored copies). */
const firstResult = (r: RecipientResult): RecipientResult => ({
  recipient: r.recipient,
  status: r.status,
  ...(r.code ? { code: r.code } : {}),
  ...(r.temporary ? { temporary: true } : {}),
  ...(r.reason ? { reason: r.reason } : {}),
});

/**
 * Delivers one destination domain's leased outbox rows over SHARP/1.3 (the outbound worker
 * chooses this route for domains that publish `_sharp._tcp` SRV records): per row, the stored
 * message becomes an EMAIL_CONTENT (message.ts), a stamp is minted for the exact recipient
 * address, and client.ts runs one connection per recipient against the SRV targets in order.
 *
 * Results, as the outbox understands them (SMTP-style codes for the bounce's Diagnostic-Code):
 *
 * | SHARP/1.3                                   | outbox   | code / enhanced |
 * | ------------------------------------------- | -------- | --------------- |
 * | OK "Email processed"                        | sent     | 250 2.0.0       |
 * | ERROR 550 to MAIL_TO (no such user)         | failed   | 550 5.1.1       |
 * | ERROR 550 to any other line                 | failed   | 550 5.0.0       |
 * | ERROR 413 (line too long)                   | failed   | 552 5.3.4       |
 * | ERROR 400 (refused: format, version, sender)| failed   | 554 5.7.0/5.6.0 |
 * | ERROR 429 (proof of work)                   | deferred | 451 4.7.0       |
 * | ERROR 451 (domain not served / busy)        | deferred | 451 4.3.0       |
 * | no host, DNS or network trouble, timeout    | deferred | 4.4.1 / 4.4.3   |
 *
 * Each result carries the stage of the line that was answered (HELLO: the sender, `mail`;
 * MAIL_TO: the recipient, `rcpt`; DATA, EMAIL_CONTENT, END_DATA: the message, `data`), and only
 * "no such user" in reply to MAIL_TO says the recipient does not exist (SHARP-1.3 checks the user
 * there, and only there): the gateway suppresses on that alone, never on a 400 about the sender
 * or the peer's own trouble, nor on a 413 (src/transactional/bounce_class.ts).
 *
 * 429 is retried because each attempt mints a new stamp (a replay or a clock skew heals); 451 is
 * retried because the reference answers it for a domain it does not (yet) serve, and Postern
 * for a gateway it cannot reach. The reference sender never retries; Postern's outbox does, until
 * the row expires, then bounces.
 *
 * The SHARP sender (HELLO's `server_id`, which becomes the From at the receiver) is the
 * message's author, its From address, not the envelope sender: a VERP return path
 * (`bounces+em_…`) is no SHARP username, and SHARP has no bounces to route anyway. Both
 * addresses go with lower-case local parts (the reference stores and queries them as typed).
 * An address SHARP/1.3 cannot carry (schemas/sharp_address.ts) fails its row at once, with the
 * reason, instead of being retried until it expires: 5.1.3 for the recipient, 5.1.7 for the
 * sender. Submission refuses such addresses already when it can see the route (422).
 */
import type { DeliveryStage, OutboxGroup, OutboxItem } from "../../schemas/bridge_outbox.ts";
import type { Resolver } from "../dns/resolver.ts";
import type { Result, WorkerLogger } from "../smtp_out/deliver.ts";
import {
  sendSharp,
  type SharpSendRequest,
  type SharpSendResult,
  type SharpSendStep,
} from "./client.ts";
import { mintStamp } from "./hashcash.ts";
import { contentFromMessage } from "./message.ts";
import { sharpAddressProblem, sharpWireAddress } from "../../schemas/sharp_address.ts";
import { discoverSharp, hostAddresses } from "./verify_sender.ts";

export interface SharpDeliveryDeps {
  resolver: Resolver;
  /** Bits of the stamps we mint (18: what the reference scores "good"). */
  hashcashBits: number;
  /** Our host name: the sender of bounces (`postmaster#<hostname>`), which have no sender. */
  hostname: string;
  /** The stored bytes of a row. */
  message(item: OutboxItem): Promise<Uint8Array>;
  report(item: OutboxItem, result: Result): Promise<void>;
  logger: WorkerLogger;
  /** Replaces the client (tests). */
  send?: (request: SharpSendRequest) => Promise<SharpSendResult>;
  timeoutMs?: number;
}

const MAX_CONNECT_ATTEMPTS = 5;

const deferred = (message: string, enhanced = "4.4.1", remoteMta?: string): Result => ({
  outcome: "deferred",
  enhanced,
  message: message.slice(0, 1000),
  ...(remoteMta ? { remoteMta } : {}),
});

/** Which SMTP-like stage each line of the exchange stands for (the module comment). */
const STAGES: Record<SharpSendStep, DeliveryStage> = {
  connect: "connect",
  HELLO: "mail",
  MAIL_TO: "rcpt",
  DATA: "data",
  EMAIL_CONTENT: "data",
  END_DATA: "data",
};

/** An address SHARP/1.3 cannot carry: a permanent failure of the row, never retried. */
function cannotCarry(who: string, problem: string, enhanced: "5.1.3" | "5.1.7"): Result {
  return {
    outcome: "failed",
    smtpCode: 553,
    enhanced,
    stage: enhanced === "5.1.3" ? "rcpt" : "mail",
    message: `SHARP/1.3 cannot carry the ${who}: ${problem}`.slice(0, 1000),
  };
}

/** A SHARP/1.3 result as an outbox result (the table above). */
export function sharpResult(result: SharpSendResult, remoteMta: string): Result {
  const text = (s: string) => `SHARP/1.3 ${s}`.slice(0, 1000);
  if (result.ok) {
    return {
      outcome: "sent",
      smtpCode: 250,
      enhanced: "2.0.0",
      message: text("Email processed"),
      remoteMta,
    };
  }
  const message = text(`${result.step}: ${result.code ? `${result.code} ` : ""}${result.message}`);
  const stage = STAGES[result.step];
  switch (result.code) {
    case 550:
      return {
        outcome: "failed",
        smtpCode: 550,
        enhanced: stage === "rcpt" ? "5.1.1" : "5.0.0",
        stage,
        message,
        remoteMta,
      };
    case 413:
      return { outcome: "failed", smtpCode: 552, enhanced: "5.3.4", stage, message, remoteMta };
    case 400:
      return {
        outcome: "failed",
        smtpCode: 554,
        enhanced: result.step === "HELLO" ? "5.7.0" : "5.6.0",
        stage,
        message,
        remoteMta,
      };
    case 429:
      return { outcome: "deferred", smtpCode: 451, enhanced: "4.7.0", stage, message, remoteMta };
    case 451:
      return { outcome: "deferred", smtpCode: 451, enhanced: "4.3.0", stage, message, remoteMta };
    default:
      // Network trouble mid-exchange: the message may or may not have arrived (as with SMTP).
      return deferred(message, result.step === "connect" ? "4.4.1" : "4.4.2", remoteMta);
  }
}

/** Delivers every item of the group and reports each one; never throws. */
export async function deliverSharpDomain(
  deps: SharpDeliveryDeps,
  group: OutboxGroup,
): Promise<void> {
  const found = await discoverSharp(deps.resolver, group.domain);
  if (found.kind !== "found") {
    const result = found.kind === "error"
      ? deferred(found.message, "4.4.3")
      : deferred(`${group.domain} publishes no SHARP/1.3 host`, "4.4.4");
    for (const item of group.items) await deps.report(item, result);
    return;
  }
  const targets: { name: string; address: string; port: number }[] = [];
  for (const host of found.hosts) {
    for (const address of await hostAddresses(deps.resolver, host.name)) {
      targets.push({ name: host.name, address, port: host.port });
    }
    if (targets.length >= MAX_CONNECT_ATTEMPTS) break;
  }
  for (const item of group.items) {
    await deps.report(item, await deliverItem(deps, item, targets.slice(0, MAX_CONNECT_ATTEMPTS)));
  }
}

async function deliverItem(
  deps: SharpDeliveryDeps,
  item: OutboxItem,
  targets: { name: string; address: string; port: number }[],
): Promise<Result> {
  if (targets.length === 0) {
    return deferred(`no address found for the SHARP/1.3 hosts of ${item.domain}`, "4.4.4");
  }
  const toProblem = sharpAddressProblem(item.rcptTo);
  if (toProblem) return cannotCarry(`recipient ${item.rcptTo}`, toProblem, "5.1.3");
  const to = sharpWireAddress(item.rcptTo);
  let content;
  let author;
  try {
    ({ content, author } = await contentFromMessage(await deps.message(item)));
  } catch (e) {
    deps.logger.log("warn", "sharp_out.prepare_failed", { id: item.id, error: String(e) });
    return deferred(`could not prepare the message: ${e}`, "4.3.0");
  }
  // The author, not the envelope sender (a VERP return path): see the module note.
  const sender = author || item.mailFrom || `postmaster@${deps.hostname}`;
  const senderProblem = sharpAddressProblem(sender);
  if (senderProblem) return cannotCarry(`sender ${sender}`, senderProblem, "5.1.7");
  const serverId = sharpWireAddress(sender);
  let hashcash;
  try {
    hashcash = await mintStamp(to, deps.hashcashBits);
  } catch (e) {
    deps.logger.log("warn", "sharp_out.prepare_failed", { id: item.id, error: String(e) });
    return deferred(`could not prepare the message: ${e}`, "4.3.0");
  }
  const send = deps.send ?? sendSharp;
  let last: Result | undefined;
  for (const target of targets) {
    const result = await send({
      host: target.address,
      port: target.port,
      serverId,
      to,
      hashcash,
      content,
      timeoutMs: deps.timeoutMs,
    });
    const outcome = sharpResult(result, target.name);
    // Only a connection that could not be opened moves on to the next host.
    if (result.ok || result.step !== "connect") return outcome;
    deps.logger.log("info", "sharp_out.connect_failed", {
      domain: item.domain,
      host: target.name,
      address: target.address,
      error: result.message,
    });
    last = outcome;
  }
  return last!;
}

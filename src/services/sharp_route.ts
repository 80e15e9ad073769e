/**
 * Refusal at submission of addresses SHARP/1.3 cannot carry (schemas/sharp_address.ts: a local
 * part over 20 characters, `+`, `~`, …) for recipients whose mail will go over SHARP/1.3: the
 * sender learns it at once (HTTP 422, SMTP 553 at RCPT or after DATA) rather than from a bounce.
 * The route is the bridge's (SRV `_sharp._tcp`, asked through `deps.routes`); a domain that is a
 * federation peer goes by federation instead. DNS is asked only when an address could not be
 * carried, so ordinary mail costs no lookup. Without the port (SHARP outbound off), or when DNS
 * cannot tell, nothing is refused here: the bridge fails such a row later, with the same reason.
 */
import { and, eq, inArray } from "drizzle-orm";
import { domainOf } from "../../schemas/address.ts";
import { sharpAddressProblem } from "../../schemas/sharp_address.ts";
import type { FieldError } from "../../schemas/problem.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { schema } from "../store/store.ts";

/** Will mail for this remote domain go over SHARP/1.3? */
async function viaSharp(deps: Deps, domain: string): Promise<boolean> {
  if (!deps.routes) return false;
  if (deps.federation) {
    const [peer] = await deps.store.db.select({ domain: schema.federationPeers.domain })
      .from(schema.federationPeers).where(and(
        eq(schema.federationPeers.domain, domain),
        inArray(schema.federationPeers.status, ["peer", "error"]),
      ));
    if (peer) return false;
  }
  return await deps.routes.sharp(domain).catch(() => false);
}

/** Why SHARP/1.3 cannot carry mail to this remote recipient, or undefined when it can. */
export async function sharpRecipientProblem(
  deps: Deps,
  recipient: string,
): Promise<string | undefined> {
  const problem = sharpAddressProblem(recipient);
  if (!problem || !await viaSharp(deps, domainOf(recipient))) return undefined;
  return `${recipient} is reached over SHARP/1.3, which cannot carry it: ${problem}`;
}

/**
 * Refuses (422) a message whose remote recipients include one reached over SHARP/1.3 when that
 * recipient, or the author (the From address, SHARP's sender), cannot be written in SHARP/1.3.
 */
export async function assertSharpCanCarry(
  deps: Deps,
  author: string,
  remote: string[],
): Promise<void> {
  if (!deps.routes || remote.length === 0) return;
  const authorProblem = sharpAddressProblem(author);
  const recipients: FieldError[] = [];
  let senderFor: string | undefined;
  const asked = new Map<string, Promise<boolean>>();
  for (const address of remote) {
    const problem = sharpAddressProblem(address);
    if (!problem && (!authorProblem || senderFor)) continue;
    const domain = domainOf(address);
    if (!asked.has(domain)) asked.set(domain, viaSharp(deps, domain));
    if (!await asked.get(domain)) continue;
    if (problem) {
      recipients.push({
        path: "to",
        message: `${address} is reached over SHARP/1.3, which cannot carry it: ${problem}`,
      });
    }
    senderFor ??= authorProblem ? address : undefined;
  }
  const sender: FieldError[] = [];
  if (senderFor) {
    sender.push({
      path: "from",
      message:
        `the From address ${author} cannot be the SHARP/1.3 sender for ${senderFor}: ${authorProblem}`,
    });
  }
  if (recipients.length > 0) {
    throw new AppError(
      422,
      "sharp_unsupported_recipient",
      recipients.length === 1
        ? recipients[0].message
        : `${recipients.length} recipients are reached over SHARP/1.3, which cannot carry them`,
      [...recipients, ...sender],
    );
  }
  if (sender.length > 0) {
    throw new AppError(422, "sharp_unsupported_sender", sender[0].message, sender);
  }
}

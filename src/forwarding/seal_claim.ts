/**
 * The ARC seal requests of claimed outbox rows (./forward.ts wrote them beside the rows): read
 * in the claim's own write job, so a claim stays one round trip, and handed to the bridge with
 * each item (`OutboxItem.arc`), which seals where it DKIM-signs (bridge/smtp_out/arc_seal.ts).
 */
import type { ResultSet } from "@libsql/client/web";
import type { InValue } from "@libsql/client/web";
import type { ArcSealRequest } from "../../schemas/bridge_outbox.ts";
import type { Statement } from "../store/store.ts";

/** The seals of the rows `claimed` (SQL over outbox `o`) names: the claim job's last step. */
export function claimedSealsStatement(claimed: { sql: string; args: InValue[] }): Statement {
  return {
    sql: `SELECT s.outbox_id, s.domain, s.auth_results, s.cv
      FROM outbox o JOIN outbox_seals s ON s.outbox_id = o.id WHERE ${claimed.sql}`,
    args: claimed.args,
  };
}

/** Seal request by outbox id, from that statement's result. */
export function claimedSeals(result: ResultSet | undefined): Map<number, ArcSealRequest> {
  const seals = new Map<number, ArcSealRequest>();
  for (const row of result?.rows ?? []) {
    seals.set(Number(row.outbox_id), {
      domain: String(row.domain),
      authResults: String(row.auth_results),
      cv: String(row.cv) as ArcSealRequest["cv"],
    });
  }
  return seals;
}

/**
 * A person's sending identities: the addresses `assertMaySendAs` (send.ts) lets their session
 * put in From — the account's own address and every alias that delivers to it — with the display
 * name to write beside them. The webmail's From menu and settings list come from here.
 */
import { like } from "drizzle-orm";
import type { AuthContext } from "../auth/auth_context.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { addressKey, getAccount } from "./accounts.ts";

export interface Identity {
  address: string;
  name: string;
  kind: "account" | "alias";
}

export async function listIdentities(db: Queryable, auth: AuthContext): Promise<Identity[]> {
  const account = await getAccount(db, auth.accountId);
  const name = account?.displayName ?? "";
  const own = addressKey(auth.address);
  // The LIKE narrows the scan to aliases that mention the address; the JSON check decides
  // (an address can be a substring of another target).
  const rows = await db.select({ address: schema.aliases.address, targets: schema.aliases.targets })
    .from(schema.aliases)
    .where(like(schema.aliases.targets, `%${own.replace(/[%_\\]/g, "")}%`));
  const aliases = rows
    .filter((r) => (JSON.parse(r.targets) as string[]).some((t) => addressKey(t) === own))
    .map((r) => ({ address: r.address, name, kind: "alias" as const }))
    .sort((a, b) => a.address.localeCompare(b.address));
  return [{ address: auth.address, name, kind: "account" }, ...aliases];
}

/**
 * What every JMAP method handler gets: the caller, the account it acts on, the creation ids of
 * this request (RFC 8620 section 5.3: `#creationId` references resolve to ids created earlier in
 * the same request) and the limits. `account(args)` is the one account check: an accountId that
 * is not the caller's own is "accountNotFound", whatever exists under it (section 3.6.2).
 */
import type { AuthContext } from "../auth/auth_context.ts";
import type { Deps } from "../deps.ts";
import { accountIdOf, parseAccountId } from "./ids.ts";
import type { JmapLimits } from "./limits.ts";
import { type Json, MethodError } from "./protocol.ts";

export interface Ctx {
  deps: Deps;
  auth: AuthContext;
  limits: JmapLimits;
  /** creation id → server id, across the whole request (and the request's `createdIds`). */
  created: Map<string, string>;
  using: ReadonlySet<string>;
}

/** The caller's account id (number) after checking `args.accountId` names it. */
export function account(ctx: Ctx, args: Record<string, Json>, key = "accountId"): number {
  const value = args[key];
  if (typeof value !== "string") {
    throw new MethodError("invalidArguments", `"${key}" must be a string`);
  }
  // Mail is read and changed with the `read` scope, as on the REST API (a `send`-only or
  // `admin`-only API key reaches no mailbox).
  if (!ctx.auth.scopes.has("read")) {
    throw new MethodError("forbidden", "this credential lacks the read scope");
  }
  if (parseAccountId(value) !== ctx.auth.accountId || value !== accountIdOf(ctx.auth.accountId)) {
    throw new MethodError(
      key === "fromAccountId" ? "fromAccountNotFound" : "accountNotFound",
      `no account "${value}" for this credential`,
    );
  }
  return ctx.auth.accountId;
}

/** Resolves a `#creationId` to the id it got earlier in the request; other ids pass as given. */
export function resolveId(ctx: Ctx, id: unknown): unknown {
  if (typeof id === "string" && id.startsWith("#")) return ctx.created.get(id.slice(1)) ?? id;
  return id;
}

/** The caller may change mail: the same `read` scope (checked again where a write begins). */
export function requireWrite(ctx: Ctx): void {
  if (!ctx.auth.scopes.has("read")) {
    throw new MethodError("forbidden", "this credential lacks the read scope");
  }
}

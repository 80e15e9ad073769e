/**
 * Administration: domains (with their catch-all), accounts, aliases and the audit log. Every
 * route needs the `admin` scope on an admin account, except that a domain administrator
 * (services/admin_reach.ts) manages the plain user accounts and the aliases of its own domains:
 * other domains' accounts and aliases answer 404, administrators and the roles themselves stay
 * out of its reach (403). Every change leaves an audit row. Accounts leave here without their
 * password hash, TOTP seed or recovery codes.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { AddressString, DomainName, parseAddress } from "../../schemas/address.ts";
import type { Deps } from "../deps.ts";
import { requireAuth } from "../auth/authenticate.ts";
import { requireScope } from "../auth/auth_context.ts";
import { AppError, notFound } from "../errors.ts";
import { type AppEnv, bearer, json, newRouter, ok, problems } from "../http/router.ts";
import {
  type Account,
  createAccount,
  createDomain,
  deleteAccount,
  deleteDomain,
  type Domain,
  getAccount,
  listAccountsPage,
  listDomains,
  setPassword,
  updateAccount,
} from "../services/accounts.ts";
import {
  type AliasView,
  createAlias,
  deleteAlias,
  listAliases,
  setCatchAll,
} from "../services/aliases.ts";
import { audit, listAudit } from "../services/audit.ts";
import { adminDomainsOf, resolveAdminDomains } from "../services/domain_roles.ts";
import { adminReach, type Reach, reachIds } from "../services/admin_reach.ts";
import { schema } from "../store/store.ts";
import { eq } from "drizzle-orm";

const iso = (ms: number) => new Date(ms).toISOString();

const IdParam = z.object({
  id: z.coerce.number().int().positive().meta({
    param: { name: "id", in: "path" },
    description: "The domain's, account's or alias's id.",
  }),
});
const PageQuery = z.object({
  cursor: z.string().regex(/^\d{1,15}$/, "the cursor is a value from `nextCursor`").optional()
    .meta({
      param: { name: "cursor", in: "query" },
      description: "Where the page starts: `nextCursor` of the previous page.",
    }),
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({
    param: { name: "limit", in: "query" },
    description: "Page size (1 to 500).",
  }),
});
const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item).meta({ description: "A page, in id order." }),
    nextCursor: z.string().nullable().meta({
      description: "Pass as `cursor` for the next page; null on the last.",
    }),
  });

export const AdminDomain = z.object({
  id: z.number().int().meta({ description: "The domain's id." }),
  name: z.string().meta({ description: "The domain name." }),
  catchAllAddress: z.string().nullable().meta({
    description: "The account that receives mail for unknown addresses, if any.",
  }),
  createdAt: z.string().meta({ description: "When it was added (ISO 8601)." }),
}).meta({ id: "AdminDomain" });

export const AdminAccount = z.object({
  id: z.number().int().meta({ description: "The account's id." }),
  address: z.string().meta({ description: "Its address." }),
  domainId: z.number().int().meta({ description: "Its domain's id." }),
  displayName: z.string().meta({ description: "Its display name." }),
  role: z.enum(["user", "admin"]).meta({ description: "admin may use the admin routes." }),
  adminDomains: z.array(z.string()).meta({
    description: "Local domains this account administers: it manages their suppression list " +
      "and sending settings (tracking, VERP), and its API keys may send from them.",
  }),
  quotaBytes: z.number().int().meta({ description: "Storage quota in bytes (0: unlimited)." }),
  usedBytes: z.number().int().meta({ description: "Storage used in bytes." }),
  totpEnabled: z.boolean().meta({ description: "Whether sign-in needs a TOTP code." }),
  disabled: z.boolean().meta({ description: "A disabled account cannot sign in or receive mail." }),
  createdAt: z.string().meta({ description: "When it was created (ISO 8601)." }),
}).meta({ id: "AdminAccount" });

export const Alias = z.object({
  id: z.number().int().meta({ description: "The alias's id." }),
  address: z.string().meta({ description: "The alias address." }),
  domainId: z.number().int().meta({ description: "Its domain's id." }),
  targets: z.array(z.string()).meta({ description: "Where its mail goes." }),
  createdAt: z.string().meta({ description: "When it was created (ISO 8601)." }),
}).meta({ id: "Alias" });

export const AuditEntry = z.object({
  id: z.number().int().meta({ description: "The entry's id (increasing)." }),
  actorAccountId: z.number().int().nullable().meta({
    description: "Who did it (null: the system, e.g. a refused federation delivery).",
  }),
  action: z.string().meta({
    description: "What was done, e.g. `account.create`, `api_key.revoke`.",
  }),
  target: z.string().meta({ description: "What it was done to (an address, a domain, an id)." }),
  data: z.record(z.string(), z.unknown()).meta({ description: "Details (never secrets)." }),
  ip: z.string().meta({ description: "The client address of the request." }),
  createdAt: z.string().meta({ description: "When (ISO 8601)." }),
}).meta({ id: "AuditEntry" });

const Role = z.enum(["user", "admin"]);
const AdminDomains = z.array(DomainName).max(1000).meta({
  description: "Local domains the account administers (domain administrator role); the " +
    "whole set, replacing the current one. `[]`: none.",
});
const Quota = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).meta({
  description: "Bytes; 0 means unlimited.",
});

export const CreateAccountRequest = z.object({
  address: AddressString,
  password: z.string().min(10).max(1024).meta({
    description: "Its password (at least 10 characters).",
  }),
  displayName: z.string().trim().max(200).optional().meta({ description: "Its display name." }),
  role: Role.optional().meta({ description: "user (default) or admin." }),
  adminDomains: AdminDomains.optional(),
  quotaBytes: Quota.optional(),
}).meta({ id: "CreateAccountRequest" });

export const UpdateAccountRequest = z.object({
  displayName: z.string().trim().max(200).optional().meta({ description: "A new display name." }),
  role: Role.optional().meta({ description: "user or admin." }),
  adminDomains: AdminDomains.optional(),
  quotaBytes: Quota.optional(),
  disabled: z.boolean().optional().meta({
    description: "Disable (ends its sessions) or enable the account.",
  }),
  password: z.string().min(10).max(1024).optional().meta({
    description: "A new password; ends the account's sessions.",
  }),
}).meta({ id: "UpdateAccountRequest" });

export function accountBody(a: Account, adminDomains: string[]) {
  return {
    id: a.id,
    address: a.address,
    domainId: a.domainId,
    displayName: a.displayName,
    role: a.role,
    adminDomains,
    quotaBytes: a.quotaBytes,
    usedBytes: a.usedBytes,
    totpEnabled: a.totpEnabled,
    disabled: a.disabled,
    createdAt: iso(a.createdAt),
  };
}

const aliasBody = (a: AliasView) => ({ ...a, createdAt: iso(a.createdAt) });

export function adminRoutes(deps: Deps) {
  const app = newRouter();
  // What each request may reach: everything for a server administrator; for a domain
  // administrator its domains, and only on the accounts, aliases and received reports routes
  // (the reports: issue21#4, routes/reports.ts).
  const reaches = new WeakMap<Context<AppEnv>, Reach>();
  const adminOnly = createMiddleware<AppEnv>(async (c, next) => {
    const auth = c.get("auth");
    let reach: Reach | undefined;
    if (auth.role !== "admin") {
      reach = await adminReach(deps.store.db, auth).catch(() => undefined);
      if (reach && !/^\/v1\/admin\/(accounts|aliases|reports)(\/|$)/.test(c.req.path)) {
        throw new AppError(403, "forbidden", "server administrators only");
      }
    }
    if (!reach) requireScope(auth, "admin");
    reaches.set(c, reach ?? { all: true });
    await next();
  });
  app.use("/admin/*", requireAuth(deps), adminOnly);
  const reachOf = (c: Context<AppEnv>) => reaches.get(c) ?? { all: true as const };
  const inReach = (c: Context<AppEnv>, domainId: number) => {
    const reach = reachOf(c);
    return reach.all || reach.domains.some((d) => d.id === domainId);
  };
  /** A domain administrator manages plain users of its domains, never the roles. */
  async function manageable(c: Context<AppEnv>, id: number): Promise<Account> {
    const account = await getAccount(deps.store.db, id);
    if (!account || !inReach(c, account.domainId)) throw notFound("account");
    const reach = reachOf(c);
    if (!reach.all) {
      const administers = (await adminDomainsOf(deps.store.db, [id])).get(id)!;
      const mine = new Set(reach.domains.map((d) => d.name));
      if (account.role === "admin" || administers.some((d) => !mine.has(d))) {
        throw new AppError(403, "forbidden", "this account is beyond a domain administrator");
      }
    }
    return account;
  }
  /** A domain administrator creates addresses in its own domains only. */
  function ownDomain(c: Context<AppEnv>, address: string) {
    const reach = reachOf(c);
    const parsed = parseAddress(address);
    if (!reach.all && parsed.ok && !reach.domains.some((d) => d.name === parsed.value.domain)) {
      throw new AppError(403, "domain_admin_required", `${parsed.value.domain} is not yours`);
    }
  }
  function noRoleChanges(c: Context<AppEnv>, body: { role?: string; adminDomains?: string[] }) {
    if (!reachOf(c).all && (body.role !== undefined || body.adminDomains !== undefined)) {
      throw new AppError(403, "forbidden", "only server administrators grant roles");
    }
  }

  const record = (
    c: Context<AppEnv>,
    action: string,
    target: string,
    data: Record<string, unknown> = {},
  ) =>
    audit(deps.store.db, {
      actorAccountId: c.get("auth").accountId,
      action,
      target,
      data,
      ip: c.get("clientIp"),
    });

  /** Accounts as the API shows them, each with the domains it administers. */
  async function accountBodies(accounts: Account[]) {
    const roles = await adminDomainsOf(deps.store.db, accounts.map((a) => a.id));
    return accounts.map((a) => accountBody(a, roles.get(a.id)!));
  }
  const oneAccount = async (a: Account) => (await accountBodies([a]))[0];

  async function domainBody(d: Domain) {
    const catchAll = d.catchAllAccountId === null
      ? undefined
      : await getAccount(deps.store.db, d.catchAllAccountId);
    return {
      id: d.id,
      name: d.name,
      catchAllAddress: catchAll?.address ?? null,
      createdAt: iso(d.createdAt),
    };
  }

  // --- Domains ---

  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/domains",
      operationId: "listAdminDomains",
      tags: ["admin"],
      summary: "Local domains",
      description: "Every local domain with its catch-all account. Needs the `admin` scope.",
      security: bearer,
      responses: {
        200: ok(
          "Domains",
          z.object({ items: z.array(AdminDomain).meta({ description: "Every local domain." }) }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const domains = await listDomains(deps.store.db);
      return c.json({ items: await Promise.all(domains.map(domainBody)) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/admin/domains",
      operationId: "createAdminDomain",
      tags: ["admin"],
      summary: "Add a local domain",
      description:
        "Adds a local domain: mail for it is accepted and stored here. Publish its DNS records " +
        "(`postern domain dns`) before mail can arrive. Needs the `admin` scope; audited.",
      security: bearer,
      request: { body: json(z.object({ name: DomainName }).meta({ id: "CreateDomainRequest" })) },
      responses: { 201: ok("Created", AdminDomain), ...problems(401, 403, 409, 422) },
    }),
    async (c) => {
      const domain = await createDomain(deps.store, c.req.valid("json").name, deps.secrets);
      await record(c, "domain.create", `domain:${domain.name}`, { id: domain.id });
      return c.json(await domainBody(domain), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/admin/domains/{id}",
      operationId: "updateAdminDomain",
      tags: ["admin"],
      summary: "Set or clear the domain's catch-all account",
      description:
        "Sets or clears the account that receives mail for unknown addresses of the domain. " +
        "Needs the `admin` scope; audited.",
      security: bearer,
      request: {
        params: IdParam,
        body: json(
          z.object({
            catchAllAddress: AddressString.nullable().meta({
              description:
                "A local account that receives mail for unknown local parts; null: none.",
            }),
          }).meta({ id: "UpdateDomainRequest" }),
        ),
      },
      responses: { 200: ok("Updated", AdminDomain), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const { catchAllAddress } = c.req.valid("json");
      const domain = await setCatchAll(deps.store, c.req.valid("param").id, catchAllAddress);
      await record(c, "domain.catch_all", `domain:${domain.name}`, { catchAllAddress });
      return c.json(await domainBody(domain), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/admin/domains/{id}",
      operationId: "deleteAdminDomain",
      tags: ["admin"],
      summary: "Remove a domain that has no accounts or aliases left",
      description:
        "Removes a domain that has no accounts or aliases left (409 otherwise). Needs the " +
        "`admin` scope; audited.",
      security: bearer,
      request: { params: IdParam },
      responses: { 204: { description: "Removed" }, ...problems(401, 403, 404, 409, 422) },
    }),
    async (c) => {
      const domain = await deleteDomain(deps.store, c.req.valid("param").id);
      await record(c, "domain.delete", `domain:${domain.name}`, { id: domain.id });
      return c.body(null, 204);
    },
  );

  // --- Accounts ---

  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/accounts",
      operationId: "listAccounts",
      tags: ["admin"],
      summary: "Accounts, by id, a page at a time",
      description: "Accounts in id order, a page at a time (`cursor` from the previous page's " +
        "`nextCursor`), without password hashes, TOTP seeds or recovery codes. Needs the " +
        "`admin` scope.",
      security: bearer,
      request: { query: PageQuery },
      responses: { 200: ok("A page", pageOf(AdminAccount)), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await listAccountsPage(deps.store.db, {
        cursor: q.cursor ? Number(q.cursor) : undefined,
        limit: q.limit,
        domainIds: reachIds(reachOf(c)),
      });
      return c.json({ items: await accountBodies(page.items), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/admin/accounts",
      operationId: "createAccount",
      tags: ["admin"],
      summary: "Create an account (with its default mailboxes) in a local domain",
      description:
        "Creates an account with its Inbox, Sent, Drafts, Trash, Junk and Archive mailboxes in " +
        "a local domain. Needs the `admin` scope; audited.",
      security: bearer,
      request: { body: json(CreateAccountRequest) },
      responses: { 201: ok("Created", AdminAccount), ...problems(401, 403, 409, 422) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      noRoleChanges(c, body);
      ownDomain(c, body.address);
      const account = await createAccount(deps.store, body, {
        quotaBytes: deps.config.defaultQuotaBytes,
        nowMs: deps.clock.now(),
        retention: deps.config,
      });
      await record(c, "account.create", `account:${account.id}`, {
        address: account.address,
        role: account.role,
        ...(body.adminDomains ? { adminDomains: body.adminDomains } : {}),
        quotaBytes: account.quotaBytes,
      });
      return c.json(await oneAccount(account), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/accounts/{id}",
      operationId: "getAccount",
      tags: ["admin"],
      summary: "One account",
      description: "One account, without its password hash, TOTP seed or recovery codes.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("Account", AdminAccount), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const account = await getAccount(deps.store.db, c.req.valid("param").id);
      if (!account || !inReach(c, account.domainId)) throw notFound("account");
      return c.json(await oneAccount(account), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/admin/accounts/{id}",
      operationId: "updateAccount",
      tags: ["admin"],
      summary: "Change an account's name, role, administered domains, quota, state or password",
      description:
        "Changes an account's display name, role, administered domains, quota, disabled state " +
        "or password. A new password or disabling it ends its sessions. Audited.",
      security: bearer,
      request: { params: IdParam, body: json(UpdateAccountRequest) },
      responses: { 200: ok("Updated", AdminAccount), ...problems(401, 403, 404, 409, 422) },
    }),
    async (c) => {
      const id = c.req.valid("param").id;
      const { password, ...changes } = c.req.valid("json");
      // Locking oneself out of administration would need the CLI to undo.
      if (id === c.get("auth").accountId && (changes.disabled || changes.role === "user")) {
        throw new AppError(409, "conflict", "you cannot disable or demote your own account");
      }
      noRoleChanges(c, changes);
      await manageable(c, id);
      // Refuse an unknown domain before the password changes, so a 422 changes nothing.
      if (changes.adminDomains) await resolveAdminDomains(deps.store.db, changes.adminDomains);
      if (password !== undefined) await setPassword(deps.store, id, password);
      const account = await updateAccount(deps.store, id, changes, deps.clock.now());
      await record(c, "account.update", `account:${id}`, {
        ...changes,
        ...(password !== undefined ? { passwordChanged: true } : {}),
      });
      return c.json(await oneAccount(account), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/admin/accounts/{id}",
      operationId: "deleteAccount",
      tags: ["admin"],
      summary: "Delete an account and everything it owns",
      description:
        "Deletes an account with its mailboxes, messages, credentials and keys. Audited.",
      security: bearer,
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404, 409, 422) },
    }),
    async (c) => {
      const id = c.req.valid("param").id;
      if (id === c.get("auth").accountId) {
        throw new AppError(409, "conflict", "you cannot delete your own account");
      }
      const account = await manageable(c, id);
      await deleteAccount(deps.store, id);
      await record(c, "account.delete", `account:${id}`, { address: account.address });
      return c.body(null, 204);
    },
  );

  // --- Aliases ---

  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/aliases",
      operationId: "listAliases",
      tags: ["admin"],
      summary: "Aliases, optionally of one domain",
      description:
        "Aliases (an address in a local domain that forwards to one or more addresses), " +
        "optionally of one domain.",
      security: bearer,
      request: {
        query: z.object({
          domainId: z.coerce.number().int().positive().optional().meta({
            param: { name: "domainId", in: "query" },
            description: "Only this domain's aliases.",
          }),
        }),
      },
      responses: {
        200: ok(
          "Aliases",
          z.object({ items: z.array(Alias).meta({ description: "The aliases, by id." }) }),
        ),
        ...problems(401, 403, 422),
      },
    }),
    async (c) => {
      const aliases = await listAliases(deps.store.db, c.req.valid("query").domainId);
      return c.json({ items: aliases.filter((a) => inReach(c, a.domainId)).map(aliasBody) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/admin/aliases",
      operationId: "createAlias",
      tags: ["admin"],
      summary: "Create an alias in a local domain forwarding to one or more addresses",
      description:
        "Creates an alias in a local domain; mail to it is delivered to each target. Audited.",
      security: bearer,
      request: {
        body: json(
          z.object({
            address: z.string().min(1).max(320).meta({
              description: "The alias address, in a local domain.",
            }),
            targets: z.array(z.string().min(1).max(320)).min(1).max(100).meta({
              description: "Where its mail goes (1 to 100 addresses, local or remote).",
            }),
          }).meta({ id: "CreateAliasRequest" }),
        ),
      },
      responses: { 201: ok("Created", Alias), ...problems(401, 403, 409, 422) },
    }),
    async (c) => {
      const body = c.req.valid("json");
      ownDomain(c, body.address);
      const alias = await createAlias(deps.store, body);
      await record(c, "alias.create", `alias:${alias.address}`, {
        id: alias.id,
        targets: alias.targets,
      });
      return c.json(aliasBody(alias), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/admin/aliases/{id}",
      operationId: "deleteAlias",
      tags: ["admin"],
      summary: "Delete an alias",
      description:
        "Deletes an alias; mail to its address is refused from then on (unless a catch-all " +
        "takes it). Audited.",
      security: bearer,
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const id = c.req.valid("param").id;
      const [row] = await deps.store.db.select().from(schema.aliases)
        .where(eq(schema.aliases.id, id));
      if (!row || !inReach(c, row.domainId)) throw notFound("alias");
      const alias = await deleteAlias(deps.store, id);
      await record(c, "alias.delete", `alias:${alias.address}`, { id: alias.id });
      return c.body(null, 204);
    },
  );

  // --- Audit log ---

  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/audit",
      operationId: "listAuditLog",
      tags: ["admin"],
      summary: "The audit log, newest first",
      description:
        "Administrative changes and credential events (who, what, from which address), newest " +
        "first, a page at a time. Secrets never appear in it.",
      security: bearer,
      request: { query: PageQuery },
      responses: { 200: ok("A page", pageOf(AuditEntry)), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await listAudit(deps.store.db, {
        cursor: q.cursor ? Number(q.cursor) : undefined,
        limit: q.limit,
      });
      const items = page.items.map((r: typeof schema.auditLog.$inferSelect) => ({
        ...r,
        data: JSON.parse(r.data) as Record<string, unknown>,
        createdAt: iso(r.createdAt),
      }));
      return c.json({ items, nextCursor: page.nextCursor }, 200);
    },
  );

  return app;
}

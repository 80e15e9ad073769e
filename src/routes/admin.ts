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
  id: z.coerce.number().int().positive().meta({ param: { name: "id", in: "path" } }),
});
const PageQuery = z.object({
  cursor: z.string().regex(/^\d{1,15}$/, "the cursor is a value from `nextCursor`").optional()
    .meta({ param: { name: "cursor", in: "query" } }),
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({
    param: { name: "limit", in: "query" },
  }),
});
const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const AdminDomain = z.object({
  id: z.number().int(),
  name: z.string(),
  catchAllAddress: z.string().nullable(),
  createdAt: z.string(),
}).meta({ id: "AdminDomain" });

export const AdminAccount = z.object({
  id: z.number().int(),
  address: z.string(),
  domainId: z.number().int(),
  displayName: z.string(),
  role: z.enum(["user", "admin"]),
  adminDomains: z.array(z.string()).meta({
    description: "Local domains this account administers: it manages their suppression list " +
      "and sending settings (tracking, VERP), and its API keys may send from them.",
  }),
  quotaBytes: z.number().int(),
  usedBytes: z.number().int(),
  totpEnabled: z.boolean(),
  disabled: z.boolean(),
  createdAt: z.string(),
}).meta({ id: "AdminAccount" });

export const Alias = z.object({
  id: z.number().int(),
  address: z.string(),
  domainId: z.number().int(),
  targets: z.array(z.string()),
  createdAt: z.string(),
}).meta({ id: "Alias" });

export const AuditEntry = z.object({
  id: z.number().int(),
  actorAccountId: z.number().int().nullable(),
  action: z.string(),
  target: z.string(),
  data: z.record(z.string(), z.unknown()),
  ip: z.string(),
  createdAt: z.string(),
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
  password: z.string().min(10).max(1024),
  displayName: z.string().trim().max(200).optional(),
  role: Role.optional(),
  adminDomains: AdminDomains.optional(),
  quotaBytes: Quota.optional(),
}).meta({ id: "CreateAccountRequest" });

export const UpdateAccountRequest = z.object({
  displayName: z.string().trim().max(200).optional(),
  role: Role.optional(),
  adminDomains: AdminDomains.optional(),
  quotaBytes: Quota.optional(),
  disabled: z.boolean().optional(),
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
  // administrator its domains, and only on the accounts and aliases routes.
  const reaches = new WeakMap<Context<AppEnv>, Reach>();
  const adminOnly = createMiddleware<AppEnv>(async (c, next) => {
    const auth = c.get("auth");
    let reach: Reach | undefined;
    if (auth.role !== "admin") {
      reach = await adminReach(deps.store.db, auth).catch(() => undefined);
      if (reach && !/^\/v1\/admin\/(accounts|aliases)(\/|$)/.test(c.req.path)) {
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
      tags: ["admin"],
      summary: "Local domains",
      security: bearer,
      responses: {
        200: ok("Domains", z.object({ items: z.array(AdminDomain) })),
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
      tags: ["admin"],
      summary: "Add a local domain",
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
      tags: ["admin"],
      summary: "Set or clear the domain's catch-all account",
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
      tags: ["admin"],
      summary: "Remove a domain that has no accounts or aliases left",
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
      tags: ["admin"],
      summary: "Accounts, by id, a page at a time",
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
      tags: ["admin"],
      summary: "Create an account (with its default mailboxes) in a local domain",
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
      tags: ["admin"],
      summary: "One account",
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
      tags: ["admin"],
      summary: "Change an account's name, role, administered domains, quota, state or password",
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
      tags: ["admin"],
      summary: "Delete an account and everything it owns",
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
      tags: ["admin"],
      summary: "Aliases, optionally of one domain",
      security: bearer,
      request: {
        query: z.object({
          domainId: z.coerce.number().int().positive().optional().meta({
            param: { name: "domainId", in: "query" },
          }),
        }),
      },
      responses: {
        200: ok("Aliases", z.object({ items: z.array(Alias) })),
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
      tags: ["admin"],
      summary: "Create an alias in a local domain forwarding to one or more addresses",
      security: bearer,
      request: {
        body: json(
          z.object({
            address: z.string().min(1).max(320),
            targets: z.array(z.string().min(1).max(320)).min(1).max(100),
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
      tags: ["admin"],
      summary: "Delete an alias",
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
      tags: ["admin"],
      summary: "The audit log, newest first",
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

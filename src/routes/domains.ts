/**
 * The domains API: the local domains a caller administers (all of them for a server
 * administrator, its own for a domain administrator: services/admin_reach.ts), each with the DNS
 * records to publish (services/dns_records.ts, as `postern domain dns` prints them) and a live
 * check of each through the gateway's DNS port (services/domain_check.ts). Adding a domain is a
 * server administrator's act and leaves an audit row.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { count, eq, inArray } from "drizzle-orm";
import { DomainName } from "../../schemas/address.ts";
import { DomainDetail, DomainSummary } from "../../schemas/domains.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import { createDomain, type Domain, getAccount, listDomains } from "../services/accounts.ts";
import { adminReach, requireSiteAdmin } from "../services/admin_reach.ts";
import { audit } from "../services/audit.ts";
import { ensureDkimKeys } from "../services/dkim_keys.ts";
import { checkRecords } from "../services/domain_check.ts";
import { domainRecords } from "../services/dns_records.ts";
import { schema } from "../store/store.ts";

const iso = (ms: number) => new Date(ms).toISOString();

const description = "A server administrator sees every local domain; a domain administrator " +
  "(`adminDomains`) only its own; others get 403 `domain_admin_required`. An API key needs " +
  "the `admin` scope and stays within the domains it is restricted to.";

export function domainRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/domains", requireAuth(deps));
  app.use("/domains/*", requireAuth(deps));
  const tags = ["domains"];

  async function summaries(domains: Domain[]) {
    const ids = domains.map((d) => d.id);
    const counts = ids.length
      ? await deps.store.db.select({ domainId: schema.accounts.domainId, n: count() })
        .from(schema.accounts).where(inArray(schema.accounts.domainId, ids))
        .groupBy(schema.accounts.domainId)
      : [];
    const byDomain = new Map(counts.map((r) => [r.domainId, r.n]));
    return await Promise.all(domains.map(async (d) => ({
      id: d.id,
      name: d.name,
      catchAllAddress: d.catchAllAccountId === null
        ? null
        : (await getAccount(deps.store.db, d.catchAllAccountId))?.address ?? null,
      accounts: byDomain.get(d.id) ?? 0,
      createdAt: iso(d.createdAt),
    })));
  }

  app.openapi(
    createRoute({
      method: "get",
      path: "/domains",
      operationId: "listDomains",
      tags,
      description,
      summary: "The local domains you administer",
      security: bearer,
      responses: {
        200: ok(
          "Domains",
          z.object({
            items: z.array(DomainSummary).meta({ description: "The domains, by name." }),
          }),
        ),
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const visible = reach.all ? undefined : new Set(reach.domains.map((d) => d.id));
      const domains = (await listDomains(deps.store.db)).filter((d) => visible?.has(d.id) ?? true);
      return c.json({ items: await summaries(domains) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/domains",
      operationId: "createDomain",
      tags,
      description: "Server administrators only. The domain's DKIM keys (RSA-2048 and Ed25519) " +
        "and federation signing key are generated with it; the answer lists the records to " +
        "publish (and their live state).",
      summary: "Add a local domain",
      security: bearer,
      request: { body: json(z.object({ name: DomainName }).meta({ id: "NewDomain" })) },
      responses: { 201: ok("Created", DomainDetail), ...problems(401, 403, 409, 422) },
    }),
    async (c) => {
      requireSiteAdmin(await adminReach(deps.store.db, c.get("auth")));
      const domain = await createDomain(deps.store, c.req.valid("json").name, deps.secrets);
      await audit(deps.store.db, {
        actorAccountId: c.get("auth").accountId,
        action: "domain.create",
        target: `domain:${domain.name}`,
        data: { id: domain.id },
        ip: c.get("clientIp"),
      });
      return c.json(await detail(domain, true), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/domains/{domain}",
      operationId: "getDomain",
      tags,
      description: description + " The check looks every record up now (about a second); " +
        "`check=false` leaves it out.",
      summary: "A domain with its DNS records and the live check of each",
      security: bearer,
      request: {
        params: z.object({ domain: DomainName.meta({ param: { name: "domain", in: "path" } }) }),
        query: z.object({
          check: z.enum(["true", "false"]).default("true").meta({
            description: "false: leave the live DNS check out.",
            param: { name: "check", in: "query" },
          }),
        }),
      },
      responses: { 200: ok("The domain", DomainDetail), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const name = c.req.valid("param").domain.toLowerCase();
      const [domain] = await deps.store.db.select().from(schema.domains)
        .where(eq(schema.domains.name, name));
      // Another tenant's domain is as unknown as a missing one: its existence is not yours.
      if (!domain || !(reach.all || reach.domains.some((d) => d.id === domain.id))) {
        throw notFound(`local domain ${name}`);
      }
      return c.json(await detail(domain, c.req.valid("query").check === "true"), 200);
    },
  );

  async function detail(domain: Domain, check: boolean) {
    const [summary] = await summaries([domain]);
    const found = await ensureDkimKeys(deps.store, deps.secrets, domain.name, deps.clock.now());
    const { records, mtaStsPolicy } = await domainRecords(
      domain.name,
      deps.config,
      found?.keys ?? [],
    );
    const dns = deps.dns ?? deps.federation?.dns;
    const result = check && dns ? await checkRecords(dns, records) : undefined;
    return {
      ...summary,
      records,
      mtaStsPolicy,
      check: result
        ? {
          verified: result.verified,
          checkedAt: iso(deps.clock.now()),
          checks: result.checks.map((r) => ({ ...r, pass: r.status === "ok" })),
          warnings: result.warnings,
        }
        : null,
    };
  }

  return app;
}

/**
 * Resend's domain routes (`/domains`: create, list, get, verify, update, remove) over Postern's
 * local domains, for code that sets up its sending domain through Resend's SDK. The caller needs
 * what the domains API needs (routes/domains.ts): an API key with the `admin` scope of a server
 * administrator (create and remove) or of a domain administrator (its own domains). A domain's
 * `records` are the ones `postern domain dns` prints, each with its live state from the check
 * of services/domain_check.ts; `status` is `verified` when every required record (MX, SPF, DKIM)
 * is in place. Ids are Postern's domain ids as strings; the region is always `local`.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import { compatRouter } from "../http/compat_router.ts";
import { bearer, json, ok } from "../http/router.ts";
import { createDomain, deleteDomain, type Domain, listDomains } from "../services/accounts.ts";
import { adminReach, type Reach, requireSiteAdmin } from "../services/admin_reach.ts";
import { audit } from "../services/audit.ts";
import { ensureDkimKeys } from "../services/dkim_keys.ts";
import { checkRecords, type DomainCheck, kindOf } from "../services/domain_check.ts";
import { domainRecords } from "../services/dns_records.ts";
import { updateDomainSettings } from "../transactional/domains.ts";
import { DomainName } from "../../schemas/address.ts";
import { resendErrorResponse } from "./compat_resend.ts";

const TAG = "compat-resend";

const ResendRecord = z.object({
  record: z.string().meta({
    description: "What it is for: Receiving (the MX), SPF, DKIM, DMARC, MTA-STS, …",
  }),
  name: z.string().meta({ description: "The DNS name to publish it at." }),
  type: z.string().meta({ description: "MX, TXT, CNAME or SRV." }),
  ttl: z.string().meta({ description: "Always `Auto`." }),
  status: z.enum(["verified", "not_started", "failed"]).meta({
    description: "verified: published as expected; failed: missing or different; not_started: " +
      "not checked.",
  }),
  value: z.string().meta({ description: "The value to publish." }),
  priority: z.number().int().optional().meta({ description: "MX only: its preference." }),
});

const ResendDomain = z.object({
  object: z.literal("domain").meta({ description: "Always `domain`." }),
  id: z.string().meta({ description: "The domain's id." }),
  name: z.string().meta({ description: "The domain name." }),
  status: z.enum(["verified", "failed", "not_started"]).meta({
    description: "verified when MX, SPF and DKIM are all published.",
  }),
  created_at: z.string().meta({ description: "When it was added (ISO 8601)." }),
  region: z.literal("local").meta({ description: "Always `local`: this server." }),
  records: z.array(ResendRecord).meta({ description: "The records to publish, each checked." }),
}).meta({ id: "ResendDomain" });

const ResendDomainList = z.object({
  object: z.literal("list").meta({ description: "Always `list`." }),
  has_more: z.boolean().meta({ description: "Always false: every domain is listed." }),
  data: z.array(ResendDomain.omit({ records: true, object: true })).meta({
    description: "The domains you administer.",
  }),
}).meta({ id: "ResendDomainList" });

const DomainRef = z.object({
  object: z.literal("domain").meta({ description: "Always `domain`." }),
  id: z.string().meta({ description: "The domain's id." }),
  deleted: z.boolean().optional().meta({ description: "On removal: true." }),
}).meta({ id: "ResendDomainRef" });

const IdParam = z.object({
  id: z.string().max(20).meta({
    param: { name: "id", in: "path" },
    description: "The domain's id.",
  }),
});

const errors = { 403: { description: "Not allowed" }, 404: { description: "Not found" } };

/**
 * The record label Resend shows for one of Postern's records: its own words where it has them
 * (`Receiving` for the MX, `SPF`, `DKIM`), the record's kind in capitals otherwise.
 */
function recordLabel(kind: string): string {
  const labels: Record<string, string> = { mx: "Receiving", spf: "SPF", dkim: "DKIM" };
  return labels[kind] ?? kind.toUpperCase();
}

export function resendDomainRoutes(deps: Deps) {
  const app = compatRouter(deps.logger, resendErrorResponse);
  app.use("/domains", requireAuth(deps));
  app.use("/domains/*", requireAuth(deps));

  /** The domain of id `id` when the caller reaches it; 404 otherwise (another's is unknown). */
  async function reached(reach: Reach, id: string): Promise<Domain> {
    const domains = await listDomains(deps.store.db);
    const found = /^\d+$/.test(id) ? domains.find((d) => d.id === Number(id)) : undefined;
    if (!found || !(reach.all || reach.domains.some((d) => d.id === found.id))) {
      throw new AppError(404, "not_found", "domain not found");
    }
    return found;
  }

  async function view(domain: Domain, check: boolean) {
    const found = await ensureDkimKeys(deps.store, deps.secrets, domain.name, deps.clock.now());
    const { records } = await domainRecords(domain.name, deps.config, found?.keys ?? []);
    const dns = deps.dns ?? deps.federation?.dns;
    const result: DomainCheck | undefined = check && dns
      ? await checkRecords(dns, records)
      : undefined;
    const states = new Map(result?.checks.map((c) => [c.record, c]));
    return {
      object: "domain" as const,
      id: String(domain.id),
      name: domain.name,
      status: !result
        ? "not_started" as const
        : result.verified
        ? "verified" as const
        : "failed" as const,
      created_at: new Date(domain.createdAt).toISOString(),
      region: "local" as const,
      records: records.map((r) => {
        const c = states.get(r);
        const mx = r.type === "MX" ? r.value.match(/^(\d+)\s+(\S+)$/) : null;
        return {
          record: recordLabel(kindOf(r)),
          name: r.name.replace(/\.$/, ""),
          type: r.type,
          ttl: "Auto",
          status: !c
            ? "not_started" as const
            : c.status === "ok"
            ? "verified" as const
            : "failed" as const,
          value: mx ? mx[2].replace(/\.$/, "") : r.value,
          ...(mx ? { priority: Number(mx[1]) } : {}),
        };
      }),
    };
  }

  app.openapi(
    createRoute({
      method: "post",
      path: "/domains",
      operationId: "resendCreateDomain",
      tags: [TAG],
      summary: "Resend: add a sending domain",
      description: "Server administrators' keys only (the `admin` scope). DKIM keys are made " +
        "with it; the answer lists the records to publish, not yet checked.",
      security: bearer,
      request: {
        body: json(
          z.object({
            name: DomainName.meta({ description: "The domain name." }),
            region: z.string().optional().meta({ description: "Ignored: always this server." }),
            custom_return_path: z.string().optional().meta({ description: "Ignored." }),
          }).meta({ id: "ResendCreateDomain" }),
        ),
      },
      responses: { 201: ok("Added", ResendDomain), ...errors },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireSiteAdmin(await adminReach(deps.store.db, auth));
      const domain = await createDomain(deps.store, c.req.valid("json").name, deps.secrets);
      await audit(deps.store.db, {
        actorAccountId: auth.accountId,
        action: "domain.create",
        target: `domain:${domain.name}`,
        data: { id: domain.id, via: "resend" },
        ip: c.get("clientIp"),
      });
      return c.json(await view(domain, false), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/domains",
      operationId: "resendListDomains",
      tags: [TAG],
      summary: "Resend: the domains you administer, each checked now",
      description: "Each domain's records are looked up now, all domains at once.",
      security: bearer,
      responses: { 200: ok("Domains", ResendDomainList), ...errors },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const domains = (await listDomains(deps.store.db))
        .filter((d) => reach.all || reach.domains.some((r) => r.id === d.id));
      const views = await Promise.all(domains.map((d) => view(d, true)));
      return c.json({
        object: "list" as const,
        has_more: false,
        data: views.map(({ object: _o, records: _r, ...rest }) => rest),
      }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/domains/{id}",
      operationId: "resendGetDomain",
      tags: [TAG],
      summary: "Resend: a domain with its records, checked now",
      security: bearer,
      description: "The records are looked up now.",
      request: { params: IdParam },
      responses: { 200: ok("The domain", ResendDomain), ...errors },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      return c.json(await view(await reached(reach, c.req.valid("param").id), true), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/domains/{id}/verify",
      operationId: "resendVerifyDomain",
      tags: [TAG],
      summary: "Resend: check a domain's records now",
      description: "Postern checks on every read; this answers once the check has run.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("Checked", DomainRef), ...errors },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const domain = await reached(reach, c.req.valid("param").id);
      await view(domain, true);
      return c.json({ object: "domain" as const, id: String(domain.id) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/domains/{id}",
      operationId: "resendUpdateDomain",
      tags: [TAG],
      summary: "Resend: switch open and click tracking for a domain",
      description: "`open_tracking` and `click_tracking` set the domain's tracking defaults; " +
        "`tls` is accepted and ignored (outbound SMTP always tries TLS and honours MTA-STS).",
      security: bearer,
      request: {
        params: IdParam,
        body: json(
          z.object({
            open_tracking: z.boolean().optional().meta({ description: "Track opens by default." }),
            click_tracking: z.boolean().optional().meta({
              description: "Track clicks by default.",
            }),
            tls: z.enum(["opportunistic", "enforced"]).optional().meta({ description: "Ignored." }),
          }).meta({ id: "ResendUpdateDomain" }),
        ),
      },
      responses: { 200: ok("Updated", DomainRef), ...errors },
    }),
    async (c) => {
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const domain = await reached(reach, c.req.valid("param").id);
      const body = c.req.valid("json");
      await updateDomainSettings(deps, domain.name, {
        trackOpens: body.open_tracking,
        trackClicks: body.click_tracking,
      });
      return c.json({ object: "domain" as const, id: String(domain.id) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/domains/{id}",
      operationId: "resendDeleteDomain",
      tags: [TAG],
      summary: "Resend: remove a domain",
      description: "Server administrators' keys only; refused (409) while accounts or aliases " +
        "use it.",
      security: bearer,
      request: { params: IdParam },
      responses: { 200: ok("Removed", DomainRef), ...errors },
    }),
    async (c) => {
      const auth = c.get("auth");
      const reach = await adminReach(deps.store.db, auth);
      requireSiteAdmin(reach);
      const domain = await reached(reach, c.req.valid("param").id);
      await deleteDomain(deps.store, domain.id); // 409 while accounts or aliases use it
      await audit(deps.store.db, {
        actorAccountId: auth.accountId,
        action: "domain.delete",
        target: `domain:${domain.name}`,
        data: { id: domain.id, via: "resend" },
        ip: c.get("clientIp"),
      });
      return c.json({ object: "domain" as const, id: String(domain.id), deleted: true }, 200);
    },
  );
  app.all("/domains/*", () => {
    throw new AppError(404, "not_found", "not offered by Postern's Resend-compatible API");
  });
  return app;
}

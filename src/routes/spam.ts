/**
 * Spam thresholds over REST (issue 21 item 1): `GET/PUT /v1/spam/settings` for the signed-in
 * account's own, `GET/PUT /v1/domains/{domain}/spam` for a domain's (its administrators). Each
 * field falls back account → domain → server configuration (services/spam_settings.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { DomainName } from "../../schemas/address.ts";
import { SpamSettings, SpamSettingsChange } from "../../schemas/api_spam.ts";
import { requireScope } from "../auth/auth_context.ts";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { bearer, json, newRouter, ok, problems } from "../http/router.ts";
import { findDomain, getAccount } from "../services/accounts.ts";
import { adminReach } from "../services/admin_reach.ts";
import { audit } from "../services/audit.ts";
import {
  accountScope,
  domainScope,
  effectiveSettings,
  readSettings,
  type SpamSettingsRow,
  writeSettings,
} from "../services/spam_settings.ts";

const tags = ["spam"];

export function spamRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/spam/*", requireAuth(deps));
  app.use("/domains/:domain/spam", requireAuth(deps));
  const db = deps.store.db;

  const view = (own: SpamSettingsRow, fallback?: SpamSettingsRow) => {
    const eff = effectiveSettings(deps.config, own, fallback);
    return {
      own,
      effective: { enabled: eff.enabled, junkScore: eff.junk, rejectScore: eff.reject },
    };
  };

  /** The signed-in account's domain's settings (what its own fall back to). */
  const accountFallback = async (accountId: number) => {
    const account = await getAccount(db, accountId);
    if (!account) throw notFound("account");
    const domain = account.address.slice(account.address.lastIndexOf("@") + 1);
    return await readSettings(db, domainScope(domain));
  };

  /** A domain the caller administers (another's is as unknown as a missing one). */
  const reachableDomain = async (c: { get(key: "auth"): never }, name: string) => {
    const reach = await adminReach(db, c.get("auth"));
    const domain = await findDomain(db, name.toLowerCase());
    if (!domain || !(reach.all || reach.domains.some((d) => d.id === domain.id))) {
      throw notFound(`local domain ${name}`);
    }
    return domain;
  };

  const accountDescription = "Your account's spam thresholds: mail scoring at or above " +
    "`junkScore` goes to Junk, at or above `rejectScore` is refused at DATA (SMTP 550 5.7.1). " +
    "Fields you leave null follow your domain's, then the server's. A message's score and " +
    "rules are in its JSON form (`GET /v1/messages/{id}` → `spam`) and its `X-Spam-Status` " +
    "field; moving mail into Junk and out of it trains your classifier.";

  app.openapi(
    createRoute({
      method: "get",
      path: "/spam/settings",
      operationId: "getSpamSettings",
      tags,
      summary: "Your spam thresholds",
      description: accountDescription,
      security: bearer,
      responses: { 200: ok("Settings", SpamSettings), ...problems(401, 403) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const own = await readSettings(db, accountScope(auth.accountId));
      return c.json(view(own, await accountFallback(auth.accountId)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/spam/settings",
      operationId: "setSpamSettings",
      tags,
      summary: "Set your spam thresholds",
      description: accountDescription + " A field left out keeps its value.",
      security: bearer,
      request: { body: json(SpamSettingsChange) },
      responses: { 200: ok("Settings", SpamSettings), ...problems(401, 403, 422) },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "read");
      const fallback = await accountFallback(auth.accountId);
      const own = await writeSettings(
        deps,
        accountScope(auth.accountId),
        c.req.valid("json"),
        fallback,
      );
      return c.json(view(own, fallback), 200);
    },
  );

  const domainParams = z.object({
    domain: DomainName.meta({ param: { name: "domain", in: "path" } }),
  });
  const domainDescription = "A domain's spam thresholds, the defaults of its accounts (each " +
    "account may set its own). Server administrators and the domain's administrators; " +
    "others get 403 `domain_admin_required`, a domain outside an administrator's reach 404.";

  app.openapi(
    createRoute({
      method: "get",
      path: "/domains/{domain}/spam",
      operationId: "getDomainSpamSettings",
      tags,
      summary: "A domain's spam thresholds",
      description: domainDescription,
      security: bearer,
      request: { params: domainParams },
      responses: { 200: ok("Settings", SpamSettings), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const domain = await reachableDomain(c as never, c.req.valid("param").domain);
      return c.json(view(await readSettings(db, domainScope(domain.name))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/domains/{domain}/spam",
      operationId: "setDomainSpamSettings",
      tags,
      summary: "Set a domain's spam thresholds",
      description: domainDescription + " A field left out keeps its value.",
      security: bearer,
      request: { params: domainParams, body: json(SpamSettingsChange) },
      responses: { 200: ok("Settings", SpamSettings), ...problems(401, 403, 404, 422) },
    }),
    async (c) => {
      const domain = await reachableDomain(c as never, c.req.valid("param").domain);
      const own = await writeSettings(
        deps,
        domainScope(domain.name),
        c.req.valid("json"),
        undefined,
      );
      await audit(db, {
        actorAccountId: c.get("auth").accountId,
        action: "domain.spam_settings",
        target: `domain:${domain.name}`,
        data: own as unknown as Record<string, unknown>,
        ip: c.get("clientIp"),
      });
      return c.json(view(own), 200);
    },
  );
  return app;
}

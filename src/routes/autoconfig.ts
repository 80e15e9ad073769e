/**
 * Client autoconfiguration, so a mail client is set up from the address and password alone:
 * Thunderbird's autoconfig (`/.well-known/autoconfig/mail/config-v1.1.xml` on the domain, and
 * `/mail/config-v1.1.xml` on `autoconfig.<domain>`), Outlook's POX autodiscover, and an Apple
 * configuration profile for a signed-in user. Every document lists the listeners that are
 * configured on (src/autoconfig/servers.ts), and only local domains get one.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { Context } from "hono";
import type { Deps } from "../deps.ts";
import { requireAuth } from "../auth/authenticate.ts";
import { requireSession } from "../auth/auth_context.ts";
import { notFound } from "../errors.ts";
import { type AppEnv, bearer, newRouter, problems } from "../http/router.ts";
import { problemResponse } from "../http/problem.ts";
import { findDomain, getAccount } from "../services/accounts.ts";
import { parseAddress } from "../../schemas/address.ts";
import { mailServices, preferred } from "../autoconfig/servers.ts";
import { thunderbirdConfig } from "../autoconfig/thunderbird.ts";
import {
  AUTODISCOVER_MAX_BYTES,
  autodiscoverError,
  autodiscoverResponse,
  parseAutodiscoverRequest,
} from "../autoconfig/autodiscover.ts";
import { mobileconfig, MOBILECONFIG_TYPE } from "../autoconfig/mobileconfig.ts";

const XML = "application/xml; charset=utf-8";

function requestHost(c: Context): string {
  return (c.req.header("host") ?? new URL(c.req.url).host).toLowerCase().replace(/:\d+$/, "");
}

export function autoconfigRoutes(deps: Deps) {
  const app = newRouter();

  // Thunderbird sends ?emailaddress= on both URLs; without it the host names the domain.
  const thunderbird = async (c: Context<AppEnv>) => {
    const given = c.req.query("emailaddress");
    let domain: string;
    if (given !== undefined) {
      const parsed = parseAddress(given);
      if (!parsed.ok) return problemResponse(400, "bad_request", "emailaddress is malformed");
      domain = parsed.value.domain;
    } else {
      const host = requestHost(c);
      domain = host.startsWith("autoconfig.") ? host.slice("autoconfig.".length) : host;
    }
    if (!await findDomain(deps.store.db, domain)) {
      return problemResponse(404, "not_found", "no mail configuration for this domain");
    }
    return c.body(thunderbirdConfig(domain, mailServices(deps.config)), 200, {
      "content-type": XML,
      "cache-control": "max-age=3600",
    });
  };
  for (const path of ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"]) {
    app.openapi(
      createRoute({
        method: "get",
        path,
        operationId: path.startsWith("/.well-known/") ? "getAutoconfig" : "getAutoconfigOnHost",
        tags: ["autoconfig"],
        summary: "Thunderbird autoconfig (Mozilla ISPDB config-v1.1.xml) for a local domain",
        description: "The domain comes from `emailaddress`, else from the host " +
          "(`autoconfig.<domain>` or `<domain>`). Lists the listeners that are on.",
        request: {
          query: z.object({
            emailaddress: z.string().max(320).optional().meta({
              description: "The address being set up; its domain picks the configuration.",
            }),
          }),
        },
        responses: {
          200: {
            description: "The clientConfig document",
            content: { "application/xml": { schema: z.string() } },
          },
          ...problems(400, 404),
        },
      }),
      thunderbird,
    );
  }

  // Outlook answers only to its own schema, so errors about the request go out in it too;
  // transport-level faults (size, media type) are ordinary problems.
  const autodiscover = async (c: Context<AppEnv>) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "text/xml" && type !== "application/xml") {
      return problemResponse(415, "unsupported_media_type", "send text/xml");
    }
    const request = parseAutodiscoverRequest(await c.req.text());
    if (!request.ok) {
      return c.body(autodiscoverError(600, request.error), 400, { "content-type": XML });
    }
    if (!await findDomain(deps.store.db, request.domain)) {
      return c.body(autodiscoverError(603, "this server does not host the address"), 404, {
        "content-type": XML,
      });
    }
    return c.body(autodiscoverResponse(request.address, mailServices(deps.config)), 200, {
      "content-type": XML,
    });
  };
  const limit = bodyLimit({
    maxSize: AUTODISCOVER_MAX_BYTES,
    onError: () =>
      problemResponse(
        413,
        "payload_too_large",
        `autodiscover requests are at most ${AUTODISCOVER_MAX_BYTES} bytes`,
      ),
  });
  const xmlAnswer = (description: string) => ({
    description,
    content: { "application/xml": { schema: z.string() } },
  });
  for (const path of ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]) {
    app.openapi(
      createRoute({
        method: "post",
        path,
        operationId: path[1] === "a" ? "postAutodiscover" : "postAutodiscoverOutlookCase",
        tags: ["autoconfig"],
        summary: "Outlook autodiscover (POX): IMAP, POP3 and SMTP settings for an address",
        description: `A \`text/xml\` request of at most ${AUTODISCOVER_MAX_BYTES} bytes with ` +
          "`Request/EMailAddress`; a document type declaration is refused (no entity expansion).",
        middleware: [limit] as const,
        responses: {
          200: xmlAnswer("The Outlook response (responseschema/2006a)"),
          400: xmlAnswer("An autodiscover error 600: the request is malformed"),
          404: xmlAnswer("An autodiscover error 603: the address is not hosted here"),
          ...problems(413, 415),
        },
      }),
      autodiscover,
    );
  }

  app.use("/v1/autoconfig/*", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/autoconfig/apple.mobileconfig",
      operationId: "getAppleMobileconfig",
      tags: ["autoconfig"],
      summary: "An Apple configuration profile (.mobileconfig) that sets up this account in Mail",
      description:
        "IMAP and SMTP servers and ports as configured, the account's address as user name, no " +
        "password (the device asks; an app password works). Needs a signed-in session.",
      security: bearer,
      responses: {
        200: {
          description: "The profile (an unsigned property list)",
          content: { [MOBILECONFIG_TYPE]: { schema: z.string() } },
        },
        ...problems(401, 403, 404),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireSession(auth);
      const account = await getAccount(deps.store.db, auth.accountId);
      if (!account) throw notFound("account");
      const services = mailServices(deps.config);
      const imap = preferred(services, "imap");
      const smtp = preferred(services, "smtp");
      if (!imap || !smtp) throw notFound("an IMAP and an SMTP submission listener");
      const profile = mobileconfig(
        { address: auth.address, displayName: account.displayName, imap, smtp },
        () => crypto.randomUUID().toUpperCase(),
      );
      return c.body(profile, 200, {
        "content-type": MOBILECONFIG_TYPE,
        "content-disposition": 'attachment; filename="postern.mobileconfig"',
        "cache-control": "no-store",
      });
    },
  );
  return app;
}

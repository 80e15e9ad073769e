/**
 * `/.well-known/mta-sts.txt` (RFC 8461 section 3.2): the MTA-STS policy of a local domain, served
 * when the request arrives for `mta-sts.<domain>` — the host `postern domain dns` tells
 * operators to point here. The policy is the one that command prints.
 */
import { Hono } from "hono";
import type { Deps } from "../deps.ts";
import { problemResponse } from "../http/problem.ts";
import { findDomain } from "../services/accounts.ts";
import { mtaStsPolicy } from "../services/dns_records.ts";

export function wellKnownRoutes(deps: Deps) {
  const app = new Hono();
  app.get("/.well-known/mta-sts.txt", async (c) => {
    const host = (c.req.header("host") ?? new URL(c.req.url).host).toLowerCase().replace(
      /:\d+$/,
      "",
    );
    const domain = host.startsWith("mta-sts.") ? host.slice("mta-sts.".length) : "";
    if (!domain || !await findDomain(deps.store.db, domain)) {
      return problemResponse(404, "not_found", "no MTA-STS policy for this host");
    }
    // RFC 8461 section 3.2: text/plain, CRLF lines; caches may keep it for max_age.
    return c.body(mtaStsPolicy(deps.config.hostname), 200, {
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "max-age=3600",
    });
  });
  return app;
}

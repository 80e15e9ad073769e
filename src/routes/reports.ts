/**
 * `GET /v1/admin/reports/{kind}`: the DMARC aggregate reports (`dmarc`, RFC 7489) and SMTP TLS
 * reports (`tls`, RFC 8460) other servers sent about our domains (src/reports/receive.ts),
 * newest first, per domain. Server administrators see every domain, domain administrators their
 * own (another domain answers 404, as if it had no reports); an API key needs the `admin` scope.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/authenticate.ts";
import type { Deps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { bearer, newRouter, ok, problems } from "../http/router.ts";
import { adminReach } from "../services/admin_reach.ts";
import { rawSql } from "../store/store.ts";

export const ReceivedReport = z.object({
  id: z.number().int().meta({ description: "The report's id here." }),
  domain: z.string().meta({ description: "Our domain the report is about." }),
  orgName: z.string().meta({ description: "Who sent it (org_name / organization-name)." }),
  reportId: z.string().meta({ description: "The sender's report id." }),
  begin: z.string().meta({ description: "Start of the reported interval (ISO 8601)." }),
  end: z.string().meta({ description: "End of the reported interval (ISO 8601)." }),
  total: z.number().int().meta({
    description: "Messages (DMARC) or TLS sessions (TLS) the report counts.",
  }),
  failed: z.number().int().meta({
    description: "Of those: messages that passed neither aligned DKIM nor aligned SPF (DMARC), " +
      "or failed sessions (TLS).",
  }),
  receivedAt: z.string().meta({ description: "When it arrived (ISO 8601)." }),
  data: z.record(z.string(), z.unknown()).meta({
    description: "The parsed report: DMARC `policy` and `rows` (source IP, count, disposition, " +
      "evaluated DKIM/SPF, auth results); TLS `policies` (type, strings, MX hosts, successful " +
      "and failed session counts, failure details).",
  }),
}).meta({ id: "ReceivedReport" });

const Query = z.object({
  domain: z.string().max(253).optional().meta({ description: "Only this domain's reports." }),
  since: z.iso.datetime({ offset: true }).optional().meta({
    description: "Only reports whose interval ends after this time (ISO 8601).",
  }),
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({
    description: "At most this many (1 to 500, default 50).",
  }),
});

const Kind = z.object({
  kind: z.enum(["dmarc", "tls"]).meta({
    param: { name: "kind", in: "path" },
    description: "`dmarc`: DMARC aggregate reports; `tls`: SMTP TLS reports (TLS-RPT).",
  }),
});

const iso = (ms: number) => new Date(Number(ms)).toISOString();

export function reportRoutes(deps: Deps) {
  const app = newRouter();
  app.use("/admin/reports/*", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/reports/{kind}",
      operationId: "listReceivedReports",
      tags: ["admin"],
      summary: "DMARC and TLS reports received about your domains",
      description: "Reports that other mail servers sent to the `rua` addresses Postern " +
        "publishes for its domains, parsed (gzip, zip or plain). Server administrators see all " +
        "domains, domain administrators their own.",
      security: bearer,
      request: { params: Kind, query: Query },
      responses: {
        200: ok(
          "Reports, newest first",
          z.object({ items: z.array(ReceivedReport).meta({ description: "The reports." }) }),
        ),
        ...problems(401, 403, 404, 422),
      },
    }),
    async (c) => {
      const { kind } = c.req.valid("param");
      const q = c.req.valid("query");
      const reach = await adminReach(deps.store.db, c.get("auth"));
      const domain = q.domain?.toLowerCase();
      const mine = reach.all ? undefined : reach.domains.map((d) => d.name);
      if (domain && mine && !mine.includes(domain)) throw notFound("domain");
      const where = ["kind = ?"];
      const args: (string | number)[] = [kind === "tls" ? "tlsrpt" : "dmarc"];
      if (domain) {
        where.push("domain = ?");
        args.push(domain);
      } else if (mine) {
        where.push(`domain IN (${mine.map(() => "?").join(", ")})`);
        args.push(...mine);
      }
      if (q.since) {
        where.push(`"end" > ?`);
        args.push(Date.parse(q.since));
      }
      const rows = await rawSql(deps.store.db).all<Record<string, string | number>>(
        `SELECT id, domain, org_name, report_id, begin, "end", total, failed, received_at, data
         FROM received_reports WHERE ${where.join(" AND ")}
         ORDER BY begin DESC, id DESC LIMIT ?`,
        [...args, q.limit],
      );
      return c.json({
        items: rows.map((r) => ({
          id: Number(r.id),
          domain: String(r.domain),
          orgName: String(r.org_name),
          reportId: String(r.report_id),
          begin: iso(Number(r.begin)),
          end: iso(Number(r.end)),
          total: Number(r.total),
          failed: Number(r.failed),
          receivedAt: iso(Number(r.received_at)),
          data: JSON.parse(String(r.data)),
        })),
      }, 200);
    },
  );
  return app;
}

/**
 * `postern deploy deno`: the Deno Deploy entry (hosts/deno_deploy/main.ts) needs no files of its
 * own — the repository is the deployment, deno.json turns on the `cron` and `raw-imports`
 * features — so the plan is the app's settings, its environment (plain variables and secrets)
 * and the `deno deploy` command, plus the DNS records. Pure.
 */
import type { Config } from "../../src/config.ts";
import { discoveryRecords, dnsRecords, zoneLines } from "../../src/services/dns_records.ts";
import type { DeployPlan } from "./plan.ts";

export const DENO_ENTRY = "hosts/deno_deploy/main.ts";

export interface DenoDeployInput {
  app: string;
  org?: string;
  domain: string;
  adminAddress: string;
  /** The app's public URL (its custom domain, or https://<app>.<org>.deno.net). */
  url?: string;
  dohUrl: string;
  config: Config;
}

export function denoDeployPlan(input: DenoDeployInput): DeployPlan {
  const url = input.url ?? `https://${input.app}.${input.org ?? "your-org"}.deno.net`;
  const host = new URL(url).host;
  const scope = [...(input.org ? ["--org", input.org] : []), "--app", input.app];
  const mail = dnsRecords(input.domain, host, [], "");
  const keep = mail.records.filter((r) => /^_(dmarc|smtp\._tls)\./.test(r.name));
  const sharp = discoveryRecords(input.domain, {
    ...input.config,
    hostname: host,
    publicUrl: url,
    sharpPort: 0,
  }).filter((r) => r.name.startsWith("_sharp."));
  const vars = [
    `POSTERN_DATABASE_URL — the remote libSQL database (libsql://NAME-ORG.turso.io, or https:// ` +
    "or wss:// to your sqld)",
    `POSTERN_DOMAIN=${input.domain}`,
    `POSTERN_ADMIN_ADDRESS=${input.adminAddress}`,
    `POSTERN_HOSTNAME=${input.domain}`,
    `POSTERN_PUBLIC_URL=${url}`,
    `POSTERN_DNS_DOH_URL=${input.dohUrl}`,
  ];
  return {
    target: "deno",
    title: `Postern on Deno Deploy: ${input.app} for ${input.domain}`,
    files: [],
    secrets: [
      {
        name: "POSTERN_MASTER_KEY",
        how: "a Secret in the app's Production context — 32+ random characters (openssl rand " +
          "-base64 32); keep a copy: the store's keys are sealed with it",
      },
      {
        name: "POSTERN_DATABASE_AUTH_TOKEN",
        how: "a Secret — the database's token (turso db tokens create NAME)",
      },
      {
        name: "POSTERN_ADMIN_PASSWORD",
        how: `a Secret — ${input.adminAddress}'s password, used once at the first start`,
      },
    ],
    steps: [
      "Create a remote libSQL database (Turso: turso db create NAME) — Deno Deploy keeps no files.",
      `Create the app: deno deploy create ${scope.join(" ")} (entrypoint ${DENO_ENTRY}; no ` +
      "build step; the wizard asks what the flags do not say).",
      `Set its environment variables (Production context): ${vars.join("; ")}.`,
      "Set the secrets listed above as Secrets.",
      `Deploy: deno deploy ${scope.join(" ")} --prod (what this command runs without ` +
      "--dry-run). The entry needs only network and environment access; Deno.cron runs the " +
      "background work (federation, webhooks, search index, retention) once a minute.",
      `DKIM: the first start makes ${input.domain}'s keys; publish the TXT records that ` +
      `GET ${url}/v1/domains/${input.domain} lists (as the admin).`,
      "Mail by SMTP (inbound MX and outbound to the world) needs a bridge on a host with port " +
      `25: postern bridge --gateway ${url} (deploy/README.md); point the MX at that host.`,
    ],
    dns: [...keep, ...sharp].map((r) => ({ purpose: r.purpose, line: zoneLines([r])[0] })),
    run: [{ why: "upload and promote", argv: ["deno", "deploy", ...scope, "--prod"] }],
  };
}

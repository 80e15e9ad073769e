/**
 * What a Cloudflare Worker's `env` holds for Postern (the names deploy/cloudflare/
 * wrangler.toml.example binds, and `postern deploy cloudflare` generates): the D1 database, the
 * static assets, the secrets, and plain-text variables under the same `POSTERN_*` names that
 * src/config.ts reads on every other host. The configuration is parsed from them with the same
 * schema, every problem reported at once.
 */
import { type Config, parseConfig, unknownSettings } from "../../src/config.ts";
import type { D1Like } from "../../src/store/d1_client.ts";
import type { AssetFetcher } from "../../src/http/fetcher_assets.ts";
import type { R2BucketLike } from "./r2_objects.ts";
import { DomainName, parseAddress } from "../../schemas/address.ts";

export interface WorkerEnv {
  /** D1: the store (accounts, mailboxes, messages; bodies too when no R2 bucket is bound). */
  DB: D1Like;
  /** R2: message bodies above the inline threshold (1 MiB); without it they stay in D1's 1 MiB
   * chunk rows. */
  BLOBS?: R2BucketLike;
  /** Static assets: the API reference's renderer for /docs. */
  ASSETS?: AssetFetcher;
  /** Secret: signs tokens, seals keys at rest; the same on every node of one store. */
  POSTERN_MASTER_KEY?: string;
  /** Secret: the first administrator's password (read only when the account is made). */
  POSTERN_ADMIN_PASSWORD?: string;
  /** The first local domain, made on the first request. */
  POSTERN_DOMAIN?: string;
  /** Its administrator (default admin@POSTERN_DOMAIN). */
  POSTERN_ADMIN_ADDRESS?: string;
  /** Any other setting of src/config.ts, by its environment variable. */
  [name: string]: unknown;
}

/** The Worker's own variables, beside the settings of src/config.ts. */
export const WORKER_ENV = ["POSTERN_DOMAIN", "POSTERN_ADMIN_ADDRESS", "POSTERN_ADMIN_PASSWORD"];

/** Cloudflare's resolver, when POSTERN_DNS_DOH_URL is not set (a Worker has no other DNS). */
export const DEFAULT_DOH_URL = "https://cloudflare-dns.com/dns-query";

export interface WorkerSettings {
  config: Config;
  masterKey: string;
  domain: string;
  admin: string;
  adminPassword?: string;
  /** One line per POSTERN_* variable no setting reads (a typo is otherwise silently ignored). */
  warnings: string[];
}

/** Thrown when the Worker is configured wrongly: every problem, one per line. */
export class WorkerConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid Worker configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "WorkerConfigError";
  }
}

/**
 * The settings from `env`, or a WorkerConfigError naming every problem. Defaults that differ
 * from a process host: the host name is the domain, DNS goes over HTTPS to Cloudflare, and
 * there is no data folder.
 */
export function workerSettings(env: WorkerEnv): WorkerSettings {
  const vars: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith("POSTERN_") && typeof value === "string") vars[name] = value;
  }
  const problems: string[] = [];
  const domain = DomainName.safeParse(vars.POSTERN_DOMAIN ?? "");
  if (!vars.POSTERN_DOMAIN) problems.push("POSTERN_DOMAIN (a var): the first local domain");
  else if (!domain.success) {
    problems.push(`POSTERN_DOMAIN=${vars.POSTERN_DOMAIN}: ${domain.error.issues[0].message}`);
  }
  const domainName = domain.success ? domain.data : "";
  const admin = parseAddress(vars.POSTERN_ADMIN_ADDRESS ?? `admin@${domainName}`);
  if (!admin.ok) problems.push(`POSTERN_ADMIN_ADDRESS: ${admin.error}`);
  else if (domain.success && admin.value.domain !== domainName) {
    problems.push(`POSTERN_ADMIN_ADDRESS=${admin.value.address} is not in ${domainName}`);
  }
  if (!vars.POSTERN_MASTER_KEY) {
    problems.push(
      "POSTERN_MASTER_KEY (a secret, at least 32 characters): `wrangler secret put POSTERN_MASTER_KEY`",
    );
  }
  if (typeof (env.DB as D1Like | undefined)?.prepare !== "function") {
    problems.push("DB: no D1 database is bound under the name DB");
  }
  const parsed = parseConfig({
    ...vars,
    POSTERN_HOSTNAME: vars.POSTERN_HOSTNAME ?? (domainName || undefined),
    POSTERN_DNS_DOH_URL: vars.POSTERN_DNS_DOH_URL || DEFAULT_DOH_URL,
  });
  if (!parsed.ok) problems.push(...parsed.problems);
  if (problems.length > 0 || !parsed.ok || !admin.ok) throw new WorkerConfigError(problems);
  return {
    config: parsed.config,
    masterKey: vars.POSTERN_MASTER_KEY!,
    domain: domainName,
    admin: admin.value.address,
    adminPassword: vars.POSTERN_ADMIN_PASSWORD || undefined,
    warnings: unknownSettings(vars, WORKER_ENV).map(({ name, suggestion }) =>
      `unknown setting ${name} is ignored${suggestion ? ` (did you mean ${suggestion}?)` : ""}`
    ),
  };
}

/**
 * `postern account …` and `postern domain …`: operator commands over src/services/accounts.ts
 * (and the domain administrator role, src/services/domain_roles.ts), run directly against the
 * store (no server needed).
 */
import { checkRecords } from "../src/services/domain_check.ts";
import { dnsPort } from "../hosts/process/outbound_http.ts";
import { eq } from "drizzle-orm";
import { DomainName } from "../schemas/address.ts";
import type { Config } from "../src/config.ts";
import { randomToken, SecretBox } from "../src/crypto.ts";
import { ensureDkimKeys } from "../src/services/dkim_keys.ts";
import { domainRecords, zoneLines } from "../src/services/dns_records.ts";
import {
  type Account,
  createAccount,
  createDomain,
  deleteAccount,
  findAccountByAddress,
  listDomains,
  setPassword,
  updateAccount,
} from "../src/services/accounts.ts";
import { adminDomainsOf } from "../src/services/domain_roles.ts";
import { schema, type Store } from "../src/store/store.ts";
import {
  CliError,
  flag,
  type Invocation,
  list,
  str,
  table,
  usageError,
  type Values,
} from "./args.ts";
import { loadConfig, masterKey, printJson, readStdin, withStore } from "./context.ts";

/** The password from --password-stdin or --password; otherwise a generated one. */
async function passwordFrom(values: Values): Promise<{ password: string; generated: boolean }> {
  if (flag(values, "password-stdin")) {
    if (str(values, "password") !== undefined) {
      throw usageError("give either --password or --password-stdin, not both");
    }
    return { password: await readStdin(), generated: false };
  }
  const given = str(values, "password");
  if (given !== undefined) return { password: given, generated: false };
  return { password: randomToken(18), generated: true };
}

export async function accountByAddress(store: Store, address: string): Promise<Account> {
  const account = await findAccountByAddress(store.db, address);
  if (!account) throw new CliError(`no account ${address}`);
  return account;
}

/** The public view of an account: never the password hash or TOTP secret. */
export function accountView(a: Account, adminDomains: string[]) {
  return {
    id: a.id,
    address: a.address,
    displayName: a.displayName,
    role: a.role,
    adminDomains,
    quotaBytes: a.quotaBytes,
    usedBytes: a.usedBytes,
    totpEnabled: a.totpEnabled,
    disabled: a.disabled,
    createdAt: new Date(a.createdAt).toISOString(),
  };
}

async function withConfigStore<T>(values: Values, fn: (s: Store, c: Config) => Promise<T>) {
  const config = await loadConfig(values);
  return await withStore(config, (store) => fn(store, config));
}

export const accountAdd = ({ values, positionals }: Invocation) =>
  withConfigStore(values, async (store, config) => {
    const quotaText = str(values, "quota");
    if (quotaText !== undefined && !/^\d+$/.test(quotaText)) {
      throw usageError(`--quota: expected a number of bytes, got ${quotaText}`);
    }
    const { password, generated } = await passwordFrom(values);
    const account = await createAccount(store, {
      address: positionals[0],
      password,
      displayName: str(values, "name"),
      role: flag(values, "admin") ? "admin" : "user",
      quotaBytes: quotaText === undefined ? undefined : Number(quotaText),
      adminDomains: list(values, "admin-of"),
    }, { quotaBytes: config.defaultQuotaBytes, nowMs: Date.now(), retention: config });
    const [view] = await accountViews(store, [account]);
    if (flag(values, "json")) {
      printJson({ ...view, ...(generated ? { password } : {}) });
    } else {
      console.log(`created ${account.address} (id ${account.id}, ${account.role})`);
      if (generated) console.log(`password: ${password}   (shown once)`);
    }
  });

export const accountList = ({ values }: Invocation) =>
  withConfigStore(values, async (store) => {
    const domainName = str(values, "domain");
    let rows: Account[];
    if (domainName !== undefined) {
      const [domain] = await store.db.select().from(schema.domains)
        .where(eq(schema.domains.name, domainName.toLowerCase()));
      if (!domain) throw new CliError(`no local domain ${domainName}`);
      rows = await store.db.select().from(schema.accounts)
        .where(eq(schema.accounts.domainId, domain.id)).orderBy(schema.accounts.addressKey);
    } else {
      rows = await store.db.select().from(schema.accounts).orderBy(schema.accounts.addressKey);
    }
    const views = await accountViews(store, rows);
    if (flag(values, "json")) return printJson(views);
    if (views.length === 0) return console.log("no accounts");
    console.log(table(
      ["ID", "ADDRESS", "ROLE", "ADMIN OF", "USED", "QUOTA", "2FA", "DISABLED"],
      views.map((a) => [
        a.id,
        a.address,
        a.role,
        a.adminDomains.join(",") || "-",
        a.usedBytes,
        a.quotaBytes || "unlimited",
        a.totpEnabled ? "yes" : "no",
        a.disabled ? "yes" : "no",
      ]),
    ));
  });

/** Views of accounts, each with the domains it administers. */
async function accountViews(store: Store, accounts: Account[]) {
  const roles = await adminDomainsOf(store.db, accounts.map((a) => a.id));
  return accounts.map((a) => accountView(a, roles.get(a.id)!));
}

export const accountRole = ({ values, positionals }: Invocation) =>
  withConfigStore(values, async (store) => {
    const account = await accountByAddress(store, positionals[0]);
    const adminOf = list(values, "admin-of");
    const clear = flag(values, "clear-admin-of");
    if (flag(values, "admin") && flag(values, "user")) {
      throw usageError("give either --admin or --user, not both");
    }
    if (clear && adminOf.length) throw usageError("give either --admin-of or --clear-admin-of");
    const role = flag(values, "admin") ? "admin" : flag(values, "user") ? "user" : undefined;
    const adminDomains = clear ? [] : adminOf.length ? adminOf : undefined;
    const updated = await updateAccount(store, account.id, { role, adminDomains });
    const [view] = await accountViews(store, [updated]);
    if (flag(values, "json")) return printJson(view);
    console.log(
      `${view.address}: ${view.role}, ` +
        (view.adminDomains.length
          ? `administrator of ${view.adminDomains.join(", ")}`
          : "administrator of no domain"),
    );
  });

export const accountPasswd = ({ values, positionals }: Invocation) =>
  withConfigStore(values, async (store) => {
    const account = await accountByAddress(store, positionals[0]);
    const { password, generated } = await passwordFrom(values);
    await setPassword(store, account.id, password);
    console.log(`password of ${account.address} changed; its sessions were ended`);
    if (generated) console.log(`password: ${password}   (shown once)`);
  });

export const accountDelete = ({ values, positionals }: Invocation) =>
  withConfigStore(values, async (store) => {
    const account = await accountByAddress(store, positionals[0]);
    await deleteAccount(store, account.id);
    console.log(`deleted ${account.address}`);
  });

export const domainAdd = ({ values, positionals }: Invocation) =>
  withConfigStore(values, async (store, config) => {
    const name = DomainName.safeParse(positionals[0]);
    if (!name.success) throw usageError(name.error.issues[0].message);
    // The DKIM and federation keys are generated with the domain, sealed with the master key.
    const secrets = await SecretBox.fromMasterKey(await masterKey(config));
    const domain = await createDomain(store, name.data, secrets);
    if (flag(values, "json")) {
      printJson({ ...domain, createdAt: new Date(domain.createdAt).toISOString() });
    } else {
      console.log(
        `added domain ${domain.name} (id ${domain.id}) with DKIM keys (RSA and Ed25519) ` +
          "and a federation signing key (Ed25519)",
      );
      console.log(`publish its DNS records: postern domain dns ${domain.name}`);
    }
  });

export const domainDns = ({ values, positionals }: Invocation) =>
  withConfigStore(values, async (store, config) => {
    const name = DomainName.safeParse(positionals[0]);
    if (!name.success) throw usageError(name.error.issues[0].message);
    const secrets = await SecretBox.fromMasterKey(await masterKey(config));
    const found = await ensureDkimKeys(store, secrets, name.data, Date.now());
    if (!found) throw new CliError(`no local domain ${name.data}`);
    const { records, mtaStsPolicy } = await domainRecords(found.domain, config, found.keys);
    if (flag(values, "json")) return printJson({ domain: found.domain, records, mtaStsPolicy });
    console.log(`; DNS records for ${found.domain} (mail host ${config.hostname})`);
    records.forEach((record, i) => {
      console.log(`; ${record.purpose}`);
      console.log(zoneLines([record])[0]);
      if (i < records.length - 1) console.log("");
    });
    console.log("");
    console.log(`; Serve this at https://mta-sts.${found.domain}/.well-known/mta-sts.txt`);
    console.log("; (text/plain; switch mode to enforce once TLS reports are clean):");
    for (const line of mtaStsPolicy.trimEnd().split("\r\n")) console.log(`;   ${line}`);
  });

export const domainCheck = ({ values, positionals }: Invocation) =>
  withConfigStore(values, async (store, config) => {
    const name = DomainName.safeParse(positionals[0]);
    if (!name.success) throw usageError(name.error.issues[0].message);
    const secrets = await SecretBox.fromMasterKey(await masterKey(config));
    const found = await ensureDkimKeys(store, secrets, name.data, Date.now());
    if (!found) throw new CliError(`no local domain ${name.data}`);
    // The same records `domain dns` prints, MTA-STS id included.
    const { records } = await domainRecords(found.domain, config, found.keys);
    // The configured resolver (node:dns, or DoH with POSTERN_DNS_DOH_URL), as the gateway's.
    const { checks: results, warnings } = await checkRecords(dnsPort(config), records);
    const failed = results.filter((r) => r.required && r.status !== "ok");
    if (flag(values, "json")) {
      printJson({ domain: found.domain, ok: failed.length === 0, checks: results, warnings });
    } else {
      for (const r of results) {
        const mark = r.status === "ok" ? "ok  " : r.required ? "FAIL" : "warn";
        console.log(`${mark} ${r.record.type.padEnd(5)} ${r.record.name} — ${r.record.purpose}`);
        if (r.status !== "ok") {
          console.log(
            `       ${r.status}${r.found.length ? `; found: ${r.found.join(" | ")}` : ""}`,
          );
          if (r.advice) console.log(`       ${r.advice}`);
        }
      }
      console.log(
        failed.length === 0
          ? "mail records are in place"
          : `${failed.length} required record(s) need attention`,
      );
    }
    return failed.length === 0 ? 0 : 1;
  });

export const domainList = ({ values }: Invocation) =>
  withConfigStore(values, async (store) => {
    const domains = (await listDomains(store.db)).map((d) => ({
      id: d.id,
      name: d.name,
      catchAllAccountId: d.catchAllAccountId,
      createdAt: new Date(d.createdAt).toISOString(),
    }));
    if (flag(values, "json")) return printJson(domains);
    if (domains.length === 0) return console.log("no domains");
    console.log(
      table(["ID", "NAME", "CREATED"], domains.map((d) => [d.id, d.name, d.createdAt])),
    );
  });

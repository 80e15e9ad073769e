/**
 * `postern deploy <cloudflare|deno|systemd|docker>`: turns the generators of cli/deploy/ (pure:
 * files and text) into files on disk and, for the edge targets, runs the platform's own tool.
 * `--dry-run` writes nothing, runs nothing and prints the whole plan; a second run with the same
 * options writes the same bytes (each file is reported written or unchanged), so the output can
 * live in version control.
 */
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { DomainName, parseAddress } from "../schemas/address.ts";
import type { Config } from "../src/config.ts";
import { DEFAULT_DOH_URL } from "../src/dns/doh.ts";
import { BOOKKEEPING, hashOf } from "../src/store/migrate.ts";
import { MIGRATIONS } from "../src/store/migrations/index.ts";
import { CliError, flag, type Invocation, str, usageError } from "./args.ts";
import { env, loadConfig } from "./context.ts";
import { cloudflarePlan, WORKER } from "./deploy/cloudflare.ts";
import { denoDeployPlan } from "./deploy/deno_deploy.ts";
import { dockerPlan } from "./deploy/docker.ts";
import { type DeployPlan, describePlan, type GeneratedFile } from "./deploy/plan.ts";
import { SYSTEMD_DEFAULTS, systemdPlan } from "./deploy/systemd.ts";

export const TARGETS = ["cloudflare", "deno", "systemd", "docker"] as const;
type Target = typeof TARGETS[number];

const ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");

/** Where each target writes by default, from the repository root. */
const DEFAULT_OUT: Record<Target, string> = {
  cloudflare: ".",
  deno: ".",
  systemd: "deploy/systemd",
  docker: ".",
};

function identity(values: Invocation["values"]) {
  const domainText = str(values, "domain") ?? (env().POSTERN_DOMAIN || undefined);
  if (!domainText) throw usageError("--domain DOMAIN (or POSTERN_DOMAIN) is required");
  const domain = DomainName.safeParse(domainText);
  if (!domain.success) throw usageError(`--domain: ${domain.error.issues[0].message}`);
  const admin = parseAddress(
    str(values, "admin") ?? (env().POSTERN_ADMIN_ADDRESS || `admin@${domain.data}`),
  );
  if (!admin.ok) throw usageError(`--admin: ${admin.error}`);
  if (admin.value.domain !== domain.data) {
    throw usageError(`--admin ${admin.value.address} is not in --domain ${domain.data}`);
  }
  return { domain: domain.data, adminAddress: admin.value.address };
}

function httpsUrl(values: Invocation["values"]): string | undefined {
  const text = str(values, "url");
  if (text === undefined) return undefined;
  try {
    const url = new URL(text);
    if (url.protocol === "https:") return url.origin;
  } catch { /* said below */ }
  throw usageError(`--url: expected an https:// URL, got ${text}`);
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

function nameOption(values: Invocation["values"], option: string, fallback: string): string {
  const name = str(values, option) ?? fallback;
  if (!NAME.test(name)) {
    throw usageError(`--${option}: lowercase letters, digits and dashes (got ${name})`);
  }
  return name;
}

async function buildPlan(
  target: Target,
  values: Invocation["values"],
  config: Config,
  out: string,
): Promise<DeployPlan> {
  const who = identity(values);
  const root = relative(out, ROOT) || ".";
  const outFromRoot = relative(ROOT, out) || ".";
  const dohUrl = config.dnsDohUrl || DEFAULT_DOH_URL;
  switch (target) {
    case "cloudflare":
      return cloudflarePlan({
        ...who,
        name: nameOption(values, "name", "postern"),
        dohUrl,
        d1Id: str(values, "d1-id"),
        // Bodies above 1 MiB go to R2 unless the operator keeps them in D1 (--no-r2).
        r2Bucket: flag(values, "no-r2")
          ? undefined
          : nameOption(values, "r2", `${nameOption(values, "name", "postern")}-blobs`),
        url: httpsUrl(values),
        root,
        configPath: outFromRoot === "." ? undefined : `${outFromRoot}/wrangler.toml`,
        migrations: MIGRATIONS,
        hashes: await Promise.all(MIGRATIONS.map(hashOf)),
        config,
      }, BOOKKEEPING);
    case "deno":
      return denoDeployPlan({
        ...who,
        app: nameOption(values, "name", "postern"),
        org: str(values, "org"),
        url: httpsUrl(values),
        dohUrl,
        config,
      });
    case "systemd":
      return systemdPlan({
        ...who,
        hostname: str(values, "hostname") ?? `mail.${who.domain}`,
        user: SYSTEMD_DEFAULTS.user,
        installDir: SYSTEMD_DEFAULTS.installDir,
        deno: str(values, "deno") ?? SYSTEMD_DEFAULTS.deno,
        envFile: SYSTEMD_DEFAULTS.envFile,
      });
    case "docker":
      return dockerPlan({
        ...who,
        hostname: str(values, "hostname") ?? `mail.${who.domain}`,
        root,
        outFromRoot,
      });
  }
}

/** Writes `file` under `out`; false when it already held exactly this content. */
async function writeOne(out: string, file: GeneratedFile): Promise<boolean> {
  const path = resolve(out, file.path);
  const before = await readFile(path, "utf8").catch(() => undefined);
  if (before === file.content) return false;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, file.content, { mode: file.mode ?? 0o644 });
  return true;
}

/** Runs `argv` from the repository root with the terminal attached; fails on a non-zero exit. */
function runStep(step: DeployPlan["run"][number]): void {
  const [cmd, ...args] = step.argv;
  // `deno` is the runtime running this command when it is Deno (npx may have fetched it).
  const program = cmd === "deno" && (globalThis as { Deno?: unknown }).Deno
    ? process.execPath
    : cmd;
  console.log(`\n$ ${step.argv.join(" ")}`);
  const done = spawnSync(program, args, { cwd: ROOT, stdio: "inherit" });
  if (done.error) throw new CliError(`${step.why}: ${done.error.message}`);
  if (done.status !== 0) {
    throw new CliError(`${step.why}: \`${step.argv.join(" ")}\` exited with ${done.status}`);
  }
}

export async function deployCommand({ values, positionals }: Invocation): Promise<void> {
  const target = positionals[0] as Target;
  if (!TARGETS.includes(target)) {
    throw usageError(
      `unknown deploy target "${positionals[0]}": expected ${TARGETS.join(", ")}\n` +
        "Usage: postern deploy <cloudflare|deno|systemd|docker> [--dry-run] [--out DIR]",
    );
  }
  const dryRun = flag(values, "dry-run");
  const config = await loadConfig(values);
  const out = resolve(str(values, "out") ?? resolve(ROOT, DEFAULT_OUT[target]));
  const plan = await buildPlan(target, values, config, out);
  if (!dryRun && target === "cloudflare" && !str(values, "d1-id")) {
    throw usageError(
      "--d1-id ID is needed to deploy: create the database with `wrangler d1 create " +
        `${
          str(values, "name") ?? "postern"
        }\` and pass the id it prints (--dry-run shows the plan)`,
    );
  }
  const shown = relative(process.cwd(), out);
  const outLabel = shown === "" ? "." : shown.startsWith("..") ? out : shown;
  if (dryRun) {
    console.log(describePlan(plan, outLabel, true));
    return;
  }
  const written: string[] = [];
  for (const file of plan.files) {
    const changed = await writeOne(out, file);
    written.push(`  ${file.path} — ${changed ? "written" : "unchanged"}`);
  }
  console.log(describePlan({ ...plan, files: [], run: [] }, outLabel, false));
  if (written.length > 0) console.log(`\nFiles in ${outLabel}:\n${written.join("\n")}`);
  for (const step of plan.run) {
    runStep(step);
    if (target === "cloudflare" && step.argv.join(" ") === WORKER.build.join(" ")) {
      // The API reference's renderer goes out with the Worker's static assets (/docs).
      const assets = resolve(ROOT, WORKER.assetsDir);
      await mkdir(assets, { recursive: true });
      await copyFile(
        resolve(ROOT, "node_modules/@scalar/api-reference/dist/browser/standalone.js"),
        resolve(assets, "scalar-api-reference.js"),
      );
    }
  }
}

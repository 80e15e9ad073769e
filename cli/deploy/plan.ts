/**
 * What `postern deploy <target>` produces, as data: the files to write (pure generators return
 * them; only cli/cmd_deploy.ts touches the disk), the secrets a person must set by hand (never
 * generated or printed here: a deploy tool that made a new master key on every run would orphan
 * the store's sealed keys), the steps in order, and the commands the tool itself runs unless
 * `--dry-run`. `describePlan` renders it for a person.
 */

export interface GeneratedFile {
  /** Relative to the output folder. */
  path: string;
  content: string;
  /** File mode when written (an env file with secrets to come: 0600). */
  mode?: number;
}

export interface DeployPlan {
  target: "cloudflare" | "deno" | "systemd" | "docker";
  title: string;
  files: GeneratedFile[];
  /** Names of secrets the person sets, each with where and how. */
  secrets: { name: string; how: string }[];
  /** Numbered steps for a person, in order. */
  steps: string[];
  /** DNS records to publish, as zone-file lines with a comment each. */
  dns: { purpose: string; line: string }[];
  /** What the command runs itself unless --dry-run (argv, from the repository root). */
  run: { why: string; argv: string[] }[];
}

/** The plan as text for a person: files, secrets, steps, DNS records, commands. */
export function describePlan(plan: DeployPlan, outLabel: string, dryRun: boolean): string {
  const lines = [`${plan.title}${dryRun ? " — dry run: nothing written, nothing run" : ""}`, ""];
  if (plan.files.length > 0) {
    lines.push(`Files ${dryRun ? "it would write" : "written"} in ${outLabel}:`);
    for (const f of plan.files) {
      lines.push(`  ${f.path}${f.mode ? ` (mode ${f.mode.toString(8)})` : ""}`);
    }
    lines.push("");
  }
  if (plan.secrets.length > 0) {
    lines.push("Secrets to set yourself (never written to a file by this command):");
    for (const s of plan.secrets) lines.push(`  ${s.name}: ${s.how}`);
    lines.push("");
  }
  if (plan.steps.length > 0) {
    lines.push("Steps:");
    plan.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${s}`));
    lines.push("");
  }
  if (plan.dns.length > 0) {
    lines.push("DNS records to publish:");
    for (const r of plan.dns) lines.push(`  ; ${r.purpose}`, `  ${r.line}`);
    lines.push("");
  }
  if (plan.run.length > 0) {
    lines.push(dryRun ? "Without --dry-run it would run:" : "Running:");
    for (const r of plan.run) lines.push(`  ${r.argv.join(" ")}   # ${r.why}`);
  }
  return lines.join("\n").trimEnd();
}

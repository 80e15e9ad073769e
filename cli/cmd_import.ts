/**
 * `postern import`: moving in. `import imap://USER@HOST[:PORT]` copies a legacy IMAP account
 * (cli/mailstore/imap_import.ts); `import mbox FILE|DIR` and `import maildir DIR` read files
 * written by `postern export` or by other servers (cli/mailstore/file_import.ts). Messages go
 * in through the gateway's append service on the configured store: quota, events and
 * byte-exact blobs apply as for IMAP APPEND.
 */
import process from "node:process";
import { CliError, flag, type Invocation, str, usageError } from "./args.ts";
import { printJson, readStdin } from "./context.ts";
import {
  checkMaildir,
  importMaildir,
  importMbox,
  type ImportSummary,
} from "./mailstore/file_import.ts";
import { importImap } from "./mailstore/imap_import.ts";
import { parseImapUrl } from "./mailstore/imap_source.ts";
import { scanMaildir } from "./mailstore/maildir.ts";
import { AccountTarget, allAddresses, type MailStore, openMailStore } from "./mailstore/target.ts";
import { readdir, readFile } from "node:fs/promises";
import { mailboxNameProblem } from "../schemas/api_mail.ts";
import { join } from "node:path";
import { accountFolder } from "./mailstore/file_export.ts";

async function withMailStore<T>(inv: Invocation, fn: (ms: MailStore) => Promise<T>): Promise<T> {
  const ms = await openMailStore(inv.values);
  try {
    return await fn(ms);
  } finally {
    ms.close();
  }
}

function report(inv: Invocation, results: ImportSummary[]) {
  if (flag(inv.values, "json")) return printJson(results.length === 1 ? results[0] : results);
  for (const r of results) {
    console.log(
      `imported ${r.stored} messages into ${r.mailboxes} mailboxes of ${r.account}` +
        (r.skipped ? ` (${r.skipped} were already there)` : ""),
    );
  }
}

/**
 * How far to trust the source's certificate: the system's roots, plus `--ca-file` (a private CA
 * or the self-signed certificate itself), or nothing at all with `--insecure-skip-verify`.
 */
async function tlsTrustOptions(
  values: Invocation["values"],
  security: "tls" | "starttls" | "insecure",
): Promise<{ ca?: string; skipVerify?: boolean }> {
  const caFile = str(values, "ca-file");
  const skipVerify = flag(values, "insecure-skip-verify");
  if (caFile && skipVerify) throw usageError("give either --ca-file or --insecure-skip-verify");
  if ((caFile || skipVerify) && security === "insecure") {
    throw usageError("--ca-file and --insecure-skip-verify need TLS; --insecure turns it off");
  }
  if (skipVerify) {
    console.error(
      "postern: WARNING: --insecure-skip-verify: the source's TLS certificate is NOT checked; " +
        "anyone on the network path can pose as the server and read the password and the " +
        "mail. Prefer --ca-file with the server's CA or self-signed certificate.",
    );
    return { skipVerify: true };
  }
  if (!caFile) return {};
  let ca: string;
  try {
    ca = await readFile(caFile, "utf8");
  } catch (e) {
    throw usageError(`--ca-file ${caFile}: ${(e as Error).message}`);
  }
  if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw usageError(`--ca-file ${caFile}: no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return { ca };
}

async function imapImport(inv: Invocation, url: string) {
  const { values } = inv;
  const parsed = parseImapUrl(url);
  const modes = ["tls", "starttls", "insecure"].filter((m) => flag(values, m));
  if (modes.length > 1) throw usageError("give at most one of --tls, --starttls, --insecure");
  const security = (modes[0] ?? (parsed.tls ? "tls" : "starttls")) as
    | "tls"
    | "starttls"
    | "insecure";
  const tlsTrust = await tlsTrustOptions(values, security);
  const limitText = str(values, "limit");
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw usageError("--limit takes a positive whole number");
  }
  const password = flag(values, "password-stdin")
    ? await readStdin()
    : process.env.POSTERN_IMPORT_PASSWORD;
  if (!password) {
    throw usageError("no source password: set $POSTERN_IMPORT_PASSWORD or give --password-stdin");
  }
  await withMailStore(inv, async (ms) => {
    const account = str(values, "account") ?? (parsed.user.includes("@") ? parsed.user : undefined);
    if (!account) throw usageError("--account is required (the source user is not an address)");
    const target = await AccountTarget.open(ms.deps, account);
    await importImap(ms, target, {
      source: {
        host: parsed.host,
        port: parsed.port ?? (security === "tls" ? 993 : 143),
        user: parsed.user,
        password,
        security,
        ...tlsTrust,
      },
      dryRun: flag(values, "dry-run"),
      limit,
      json: flag(values, "json"),
    });
  });
}

/**
 * `--mailbox NAME`, checked like any mailbox name. INBOX in any case is the account's INBOX
 * (RFC 3501 section 5.1: the name INBOX is case-insensitive); the target canonicalises it.
 */
function mailboxOption(inv: Invocation): string | undefined {
  const name = str(inv.values, "mailbox");
  if (name === undefined) return undefined;
  const problem = mailboxNameProblem(name);
  if (problem) throw usageError(`--mailbox ${JSON.stringify(name)}: ${problem}`);
  return name;
}

async function mboxImport(inv: Invocation, input: string) {
  const account = str(inv.values, "account");
  if (!account) throw usageError("--account is required for mbox imports");
  const mailbox = mailboxOption(inv);
  await withMailStore(inv, async (ms) => {
    const target = await AccountTarget.open(ms.deps, account);
    report(inv, [await importMbox(target, input, mailbox)]);
  });
}

async function maildirImport(inv: Invocation, input: string) {
  const account = str(inv.values, "account");
  const all = flag(inv.values, "all");
  if (!!account === all) throw usageError("give either --account ADDRESS or --all");
  const mailbox = mailboxOption(inv);
  if (all && mailbox) throw usageError("--mailbox applies to one Maildir (--account), not --all");
  await withMailStore(inv, async (ms) => {
    if (account) {
      const folders = await checkMaildir(input);
      const target = await AccountTarget.open(ms.deps, account);
      return report(inv, [await importMaildir(target, folders, mailbox)]);
    }
    // --all: DIR holds one Maildir++ root per account, named by address (as export writes).
    const known = new Map((await allAddresses(ms.deps)).map((a) => [accountFolder(a), a]));
    const plan: { address: string; folders: Awaited<ReturnType<typeof checkMaildir>> }[] = [];
    const problems: string[] = [];
    for (const e of await readdir(input, { withFileTypes: true })) {
      const address = known.get(e.name);
      if (!e.isDirectory() || !address) {
        problems.push(`${join(input, e.name)}: not a Maildir of a known account`);
        continue;
      }
      const scanned = await scanMaildir(join(input, e.name));
      problems.push(...scanned.problems);
      if (scanned.problems.length === 0) {
        plan.push({ address, folders: await checkMaildir(join(input, e.name)) });
      }
    }
    if (problems.length) {
      throw new CliError(
        `nothing imported: ${problems.length} problem(s) in the input`,
        1,
        problems.map((p) => `  - ${p}`),
      );
    }
    const results = [];
    for (const p of plan) {
      results.push(await importMaildir(await AccountTarget.open(ms.deps, p.address), p.folders));
    }
    report(inv, results);
  });
}

export async function importCommand(inv: Invocation) {
  const [what, input] = inv.positionals;
  if (/^imaps?:\/\//i.test(what)) {
    if (input !== undefined) throw usageError("`import imap://…` takes no further argument");
    return await imapImport(inv, what);
  }
  if (what === "mbox" || what === "maildir") {
    if (input === undefined) {
      throw usageError(`\`import ${what}\` needs a ${what === "mbox" ? "FILE or " : ""}DIR`);
    }
    return what === "mbox" ? await mboxImport(inv, input) : await maildirImport(inv, input);
  }
  throw usageError(`import what? give imap://USER@HOST[:PORT], mbox FILE|DIR or maildir DIR`);
}

/**
 * `postern export --account ADDRESS|--all --format mbox|maildir --out DIR`: moving out. Writes
 * `DIR/<address>/` per account (cli/mailstore/file_export.ts) from the configured store.
 */
import { flag, type Invocation, str, usageError } from "./args.ts";
import { printJson } from "./context.ts";
import { exportAccount, type ExportFormat } from "./mailstore/file_export.ts";
import { AccountTarget, allAddresses, openMailStore } from "./mailstore/target.ts";

export async function exportCommand({ values }: Invocation) {
  const format = str(values, "format");
  if (format !== "mbox" && format !== "maildir") {
    throw usageError("--format must be mbox or maildir");
  }
  const out = str(values, "out");
  if (!out) throw usageError("--out DIR is required");
  const account = str(values, "account");
  const all = flag(values, "all");
  if (!!account === all) throw usageError("give either --account ADDRESS or --all");
  const ms = await openMailStore(values);
  try {
    const addresses = account ? [account] : await allAddresses(ms.deps);
    const results = [];
    for (const address of addresses) {
      const target = await AccountTarget.open(ms.deps, address);
      results.push(await exportAccount(target, format as ExportFormat, out));
    }
    if (flag(values, "json")) return printJson(account ? results[0] : results);
    for (const r of results) {
      console.log(
        `exported ${r.messages} messages in ${r.mailboxes} mailboxes of ${r.account} to ${r.path}`,
      );
    }
  } finally {
    ms.close();
  }
}

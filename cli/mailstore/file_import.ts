/**
 * `postern import mbox|maildir`: every input is read and checked first (truncated mbox files,
 * junk in a Maildir, files that are not messages), and when anything is wrong every problem is
 * listed and nothing is imported, so an import never stops half-way on bad input. Then messages
 * are appended with their flags and internal dates (already-present ones are skipped).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { CliError, usageError } from "../args.ts";
import { AppendPipeline } from "./append_pipeline.ts";
import type { MailItem } from "./flags.ts";
import { checkMaildirMessages, type MaildirFolder, maildirItems, scanMaildir } from "./maildir.ts";
import { parseMbox } from "./mbox.ts";
import { Progress } from "./progress.ts";
import { type AccountTarget, localName, roleOf } from "./target.ts";

export interface ImportSummary {
  account: string;
  mailboxes: number;
  stored: number;
  skipped: number;
}

function refuse(problems: string[]): never {
  const shown = problems.slice(0, 50).map((p) => `  - ${p}`);
  if (problems.length > 50) shown.push(`  … and ${problems.length - 50} more`);
  throw new CliError(
    `nothing imported: ${problems.length} problem${problems.length === 1 ? "" : "s"} in the input`,
    1,
    shown,
  );
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (e) {
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

/** `*.mbox` files below `dir`, recursively, sorted. */
async function mboxFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...await mboxFiles(path));
    else if (e.name.endsWith(".mbox")) out.push(path);
  }
  return out.sort();
}

/** Mailbox name for an mbox file: its path below the folder, without `.mbox`. */
export function mailboxForMboxPath(rel: string): string {
  const segments = rel.replace(/\.mbox$/, "").split(/[\\/]/);
  return localName(segments);
}

async function appendAll(
  target: AccountTarget,
  groups: {
    mailbox: string;
    items: AsyncIterable<MailItem> | MailItem[];
    count: number;
    bytes: number;
  }[],
): Promise<ImportSummary> {
  const progress = new Progress(
    groups.reduce((n, g) => n + g.count, 0),
    groups.reduce((n, g) => n + g.bytes, 0),
  );
  let stored = 0;
  let skipped = 0;
  for (const g of groups) {
    progress.folder(g.mailbox);
    const id = await target.mailbox(g.mailbox, roleOf(undefined, g.mailbox));
    const pipeline = new AppendPipeline(target);
    for await (const item of g.items) {
      await pipeline.push(id, item, (r) => {
        if (r === "stored") stored++;
        else skipped++;
        progress.tick(item.raw.length, r === "duplicate");
      });
    }
    await pipeline.drain();
  }
  progress.finish();
  return { account: target.account.address, mailboxes: groups.length, stored, skipped };
}

export async function importMbox(
  target: AccountTarget,
  input: string,
  mailbox: string | undefined,
): Promise<ImportSummary> {
  const dir = await isDir(input);
  const files = dir ? await mboxFiles(input) : [input];
  if (dir && mailbox) throw usageError("--mailbox applies to a single mbox file, not a folder");
  if (files.length === 0) throw new CliError(`${input}: no *.mbox files found`);
  const groups = [];
  const problems: string[] = [];
  for (const file of files) {
    const parsed = parseMbox(new Uint8Array(await readFile(file)), file);
    problems.push(...parsed.problems);
    const name = mailbox ??
      (dir ? mailboxForMboxPath(relative(input, file)) : mailboxForMboxPath(basename(file)));
    // Only the counts are kept: each file is read again when its turn comes, so a folder of
    // mbox files never sits in memory at once.
    groups.push({
      mailbox: name,
      items: reparse(file),
      count: parsed.items.length,
      bytes: parsed.items.reduce((n, i) => n + i.raw.length, 0),
    });
  }
  if (problems.length) refuse(problems);
  return await appendAll(target, groups);
}

async function* reparse(file: string): AsyncGenerator<MailItem> {
  yield* parseMbox(new Uint8Array(await readFile(file)), file).items;
}

/** Checks a Maildir++ tree completely; throws with every problem. */
export async function checkMaildir(root: string): Promise<MaildirFolder[]> {
  if (!await isDir(root)) throw new CliError(`${root}: not a folder`);
  const { folders, problems } = await scanMaildir(root);
  for (const f of folders) await checkMaildirMessages(f, problems);
  if (problems.length) refuse(problems);
  return folders;
}

/** Imports a checked Maildir++ tree; `rootMailbox` receives its root (INBOX) folder instead. */
export async function importMaildir(
  target: AccountTarget,
  folders: MaildirFolder[],
  rootMailbox = "INBOX",
): Promise<ImportSummary> {
  return await appendAll(
    target,
    folders.map((f) => ({
      mailbox: f.name === "INBOX" ? rootMailbox : localName(f.name.split("/")),
      items: maildirItems(f),
      count: f.files.length,
      bytes: f.files.reduce((n, x) => n + x.size, 0),
    })),
  );
}

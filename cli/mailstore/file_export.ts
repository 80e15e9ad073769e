/**
 * `postern export`: one folder per account (`OUT/<address>/`), holding either one mboxrd file
 * per mailbox (`INBOX.mbox`, `Projects/2024.mbox`) or a Maildir++ tree (the root is INBOX,
 * `.Sent`, `.Projects.2024` …). Messages are written with their stored bytes, flags and internal
 * dates; `postern import` reads both back to the same bytes.
 */
import { mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeMaildirFolder } from "./maildir.ts";
import { encodeMboxMessage } from "./mbox.ts";
import { Progress } from "./progress.ts";
import type { AccountTarget } from "./target.ts";

export type ExportFormat = "mbox" | "maildir";

export interface ExportSummary {
  account: string;
  path: string;
  mailboxes: number;
  messages: number;
  bytes: number;
}

/** A safe file-system name for an address (addresses may hold "/" in the local part). */
export const accountFolder = (address: string) => address.replace(/[/\\\0]/g, "_");

export async function exportAccount(
  target: AccountTarget,
  format: ExportFormat,
  out: string,
): Promise<ExportSummary> {
  const root = join(out, accountFolder(target.account.address));
  await mkdir(root, { recursive: true });
  const boxes = await target.mailboxes();
  const totals = await target.totals();
  const progress = new Progress(totals.messages, totals.bytes);
  let messages = 0;
  let bytes = 0;
  const tick = (n: number) => {
    messages++;
    bytes += n;
    progress.tick(n);
  };
  for (const box of boxes) {
    progress.folder(box.name);
    if (format === "maildir") {
      await writeMaildirFolder(root, box.name, target.messages(box.id), tick);
      continue;
    }
    const segments = box.name.split("/").map((s) => s.replace(/^\.+/, (d) => "_".repeat(d.length)));
    const file = join(root, ...segments.slice(0, -1), `${segments[segments.length - 1]}.mbox`);
    await mkdir(dirname(file), { recursive: true });
    const fh = await open(file, "w");
    try {
      for await (const item of target.messages(box.id)) {
        await fh.write(encodeMboxMessage(item, item.from));
        tick(item.raw.length);
      }
    } finally {
      await fh.close();
    }
  }
  progress.finish();
  return { account: target.account.address, path: root, mailboxes: boxes.length, messages, bytes };
}

/**
 * `postern import imap://USER@HOST[:PORT]`: every selectable folder of the source, mapped to the
 * account's special-use mailbox when the source marks it (\Sent, \Drafts, \Trash, \Junk,
 * \Archive; RFC 6154) and otherwise created by name with its hierarchy; every message with its
 * flags and internal date, byte-exact. Resumable: progress per folder (UIDVALIDITY and last UID)
 * is saved as messages are stored, and the store's duplicate check covers the messages stored
 * but not yet recorded when a run was killed. `--dry-run` lists folders and counts and writes nothing.
 */
import process from "node:process";
import { CliError, table } from "../args.ts";
import { AppendPipeline } from "./append_pipeline.ts";
import { batches, ImapSource, type ImapSourceOptions, type SourceMessage } from "./imap_source.ts";
import { formatBytes, Progress } from "./progress.ts";
import { ResumeState } from "./resume_state.ts";
import { type AccountTarget, localName, type MailStore, roleOf } from "./target.ts";

export interface ImapImportOptions {
  source: ImapSourceOptions;
  dryRun: boolean;
  /** Stop cleanly after this many messages stored in this run. */
  limit?: number;
  json: boolean;
}

interface Plan {
  path: string;
  local: string;
  role?: string;
  uidValidity: number;
  after: number;
  messages: SourceMessage[];
}

/** Test hook: exit abruptly after storing N messages, before recording progress (a kill). */
const crashAfter = Number(process.env.POSTERN_IMPORT_TEST_CRASH_AFTER ?? 0);

export async function importImap(ms: MailStore, target: AccountTarget, o: ImapImportOptions) {
  const src = o.source;
  const sourceId = `imap://${encodeURIComponent(src.user)}@${src.host}:${src.port}`;
  const state = await ResumeState.open(ms.dataDir, sourceId, target.account.address);
  const imap = await ImapSource.connect(src);
  try {
    // Pass 1: every folder's index after its resume point (cheap: no bodies).
    const plans: Plan[] = [];
    for (const f of await imap.folders()) {
      const role = roleOf(f.specialUse, f.path);
      const box = await imap.open(f.path);
      try {
        const after = state.resumeAfter(f.path, box.uidValidity);
        plans.push({
          path: f.path,
          local: role === "inbox" ? "INBOX" : localName(f.segments),
          role,
          uidValidity: box.uidValidity,
          after,
          messages: await imap.index(after, box.exists),
        });
      } finally {
        box.release();
      }
    }
    const total = plans.reduce((n, p) => n + p.messages.length, 0);
    const totalBytes = plans.reduce((n, p) => n + p.messages.reduce((b, m) => b + m.size, 0), 0);
    if (o.dryRun) {
      const rows = plans.map((p) => ({
        folder: p.path,
        mailbox: p.role ? `${p.local} (${p.role})` : p.local,
        toImport: p.messages.length,
        bytes: p.messages.reduce((b, m) => b + m.size, 0),
        alreadyDone: state.state.folders[p.path]?.uidValidity === p.uidValidity
          ? state.state.folders[p.path].imported
          : 0,
      }));
      if (o.json) {
        console.log(JSON.stringify({ folders: rows, messages: total, bytes: totalBytes }, null, 2));
      } else {
        console.log(table(
          ["FOLDER", "INTO", "TO IMPORT", "SIZE", "DONE BEFORE"],
          rows.map((r) => [r.folder, r.mailbox, r.toImport, formatBytes(r.bytes), r.alreadyDone]),
        ));
        console.log(
          `${total} messages (${formatBytes(totalBytes)}) would be imported; nothing written`,
        );
      }
      return;
    }
    // Pass 2: mailboxes first (the whole hierarchy), then bodies folder by folder.
    const boxIds = new Map<string, number>();
    for (const p of plans) boxIds.set(p.path, await target.mailbox(p.local, p.role as never));
    const progress = new Progress(total, totalBytes);
    const limitReached = (n: number) => o.limit !== undefined && n >= o.limit;
    let stored = 0;
    let skipped = 0;
    for (const p of plans) {
      if (p.messages.length === 0 || limitReached(stored)) continue;
      progress.folder(p.path);
      const box = await imap.open(p.path);
      try {
        if (box.uidValidity !== p.uidValidity) {
          throw new CliError(`${p.path}: UIDVALIDITY changed during the import; run it again`);
        }
        const pipeline = new AppendPipeline(target);
        let inFlight = 0;
        for (const batch of batches(p.messages)) {
          if (limitReached(stored + inFlight)) break;
          const bodies = await imap.sources(batch.map((m) => m.uid));
          for (const m of batch) {
            const raw = bodies.get(m.uid);
            if (!raw) continue; // expunged on the source meanwhile
            if (limitReached(stored + inFlight)) break;
            inFlight++;
            const item = {
              raw,
              flags: m.flags,
              internalDate: Math.floor(m.internalDate / 1000) * 1000,
              origin: `${p.path} UID ${m.uid}`,
            };
            await pipeline.push(boxIds.get(p.path)!, item, async (result) => {
              inFlight--;
              if (result === "stored") stored++;
              else skipped++;
              if (crashAfter > 0 && stored >= crashAfter) process.exit(137);
              // Recorded in UID order, once this message and every one before it is stored.
              await state.done(p.path, p.uidValidity, m.uid);
              progress.tick(raw.length, result === "duplicate");
            });
          }
        }
        await pipeline.drain();
        await state.save();
      } finally {
        box.release();
      }
    }
    progress.finish();
    if (limitReached(stored)) {
      console.log(
        `stopped after ${stored} messages (--limit); run the same command again to continue`,
      );
      return;
    }
    const summary = { account: target.account.address, folders: plans.length, stored, skipped };
    if (o.json) console.log(JSON.stringify(summary, null, 2));
    else {
      console.log(
        `imported ${stored} messages from ${plans.length} folders into ${target.account.address}` +
          (skipped ? ` (${skipped} were already there)` : ""),
      );
    }
  } finally {
    await imap.close();
  }
}

/**
 * Resume state of an IMAP import, one JSON file per (source, account) under
 * `<dataDir>/import/`: for each source folder its UIDVALIDITY and the last UID stored. A new
 * UIDVALIDITY (RFC 3501 section 2.3.1.1: the old UIDs mean nothing any more) restarts that
 * folder; the store's duplicate check then skips what is already there. Written atomically
 * (temporary file, then rename) a few times a second and at the end of every folder, so a kill
 * loses a moment's progress, never a message.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "../../src/crypto.ts";

export interface FolderState {
  uidValidity: number;
  lastUid: number;
  imported: number;
}

export interface ImportState {
  source: string;
  account: string;
  folders: Record<string, FolderState>;
}

export class ResumeState {
  private constructor(readonly path: string, readonly state: ImportState) {}

  static async open(dataDir: string, source: string, account: string): Promise<ResumeState> {
    const dir = join(dataDir, "import");
    const name = (await sha256Hex(`${source}\n${account.toLowerCase()}`)).slice(0, 16);
    const path = join(dir, `imap-${name}.json`);
    let state: ImportState = { source, account, folders: {} };
    try {
      const parsed = JSON.parse(await readFile(path, "utf8"));
      if (parsed && typeof parsed === "object" && parsed.folders) state = parsed;
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") {
        throw new Error(
          `${path}: unreadable resume state (${(e as Error).message}); delete it to start over`,
        );
      }
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new ResumeState(path, state);
  }

  /** Where to resume a folder: the last UID done, or 0 when new or its UIDVALIDITY changed. */
  resumeAfter(folder: string, uidValidity: number): number {
    const f = this.state.folders[folder];
    return f && f.uidValidity === uidValidity ? f.lastUid : 0;
  }

  #savedAt = 0;

  /**
   * Records a message as stored; written out at most every `everyMs` (a run that dies loses only
   * that much progress, and the duplicate check covers it).
   */
  async done(folder: string, uidValidity: number, uid: number, everyMs = 250): Promise<void> {
    const f = this.state.folders[folder];
    this.state.folders[folder] = f && f.uidValidity === uidValidity
      ? { uidValidity, lastUid: Math.max(f.lastUid, uid), imported: f.imported + 1 }
      : { uidValidity, lastUid: uid, imported: 1 };
    if (Date.now() - this.#savedAt >= everyMs) await this.save();
  }

  async save(): Promise<void> {
    const tmp = `${this.path}.tmp`;
    await writeFile(tmp, JSON.stringify(this.state, null, 2), { mode: 0o600 });
    await rename(tmp, this.path);
    this.#savedAt = Date.now();
  }
}

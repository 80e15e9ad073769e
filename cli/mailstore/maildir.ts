/**
 * Maildir++ on disk (the Courier/Dovecot layout): the root's `cur/new/tmp` is INBOX, each other
 * folder is a `.Name.Sub` directory beside them (segments joined by "."; a literal "." or "%" in
 * a name is written %2E / %25). Message files are named `TIME.ID.postern,S=SIZE:2,INFO`, where
 * INFO holds the flag letters (D F R S T, ASCII order) and keyword letters a–z listed in the
 * folder's `dovecot-keywords`; the file's mtime is the internal date. The reader checks the whole
 * tree before anything is imported and reports every unexpected entry at once.
 */
import { mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { flagsFromMaildirInfo, maildirInfo, type MailItem } from "./flags.ts";
import { messageProblem } from "./mbox.ts";

/** Files Dovecot and Courier keep beside the folders; never messages. */
const METADATA =
  /^(dovecot[-.].*|subscriptions|maildirfolder|courierimap.*|maildirsize|\.customflags)$/;

export function encodeFolderName(name: string): string {
  if (name === "INBOX") return "";
  return "." + name.split("/").map((s) => s.replace(/%/g, "%25").replace(/\./g, "%2E")).join(".");
}

export function decodeFolderName(dir: string): string {
  return dir.slice(1).split(".").map((s) => s.replace(/%2E/gi, ".").replace(/%25/g, "%")).join("/");
}

/** Writes one folder's messages; returns the number written. */
export async function writeMaildirFolder(
  root: string,
  name: string,
  items: AsyncIterable<MailItem & { uid: number }>,
  onItem: (bytes: number) => void = () => {},
): Promise<number> {
  const dir = join(root, encodeFolderName(name));
  for (const sub of ["cur", "new", "tmp"]) await mkdir(join(dir, sub), { recursive: true });
  if (name !== "INBOX") await writeFile(join(dir, "maildirfolder"), "");
  const keywords: string[] = [];
  const indexOf = (k: string) => {
    let i = keywords.findIndex((x) => x.toLowerCase() === k.toLowerCase());
    if (i < 0 && keywords.length < 26) i = keywords.push(k) - 1;
    return i;
  };
  let n = 0;
  for await (const item of items) {
    const secs = Math.floor(item.internalDate / 1000);
    const info = maildirInfo(item.flags, indexOf);
    const file = join(dir, "cur", `${secs}.U${item.uid}.postern,S=${item.raw.length}:2,${info}`);
    await writeFile(file, item.raw);
    const when = new Date(secs * 1000);
    await utimes(file, when, when);
    onItem(item.raw.length);
    n++;
  }
  if (keywords.length > 0) {
    await writeFile(
      join(dir, "dovecot-keywords"),
      keywords.map((k, i) => `${i} ${k}\n`).join(""),
    );
  }
  return n;
}

export interface MaildirFolder {
  name: string;
  dir: string;
  files: { path: string; info: string; mtimeMs: number; size: number }[];
  keywords: string[];
}

async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new Error(`${dir}: ${(e as Error).message}`);
  }
}

async function readFolder(dir: string, name: string, problems: string[]): Promise<MaildirFolder> {
  const folder: MaildirFolder = { name, dir, files: [], keywords: [] };
  try {
    const text = await readFile(join(dir, "dovecot-keywords"), "utf8");
    for (const line of text.split("\n")) {
      const m = /^(\d+) (\S+)/.exec(line);
      if (m) folder.keywords[Number(m[1])] = m[2];
    }
  } catch { /* no keywords */ }
  for (const sub of ["cur", "new"]) {
    for (const e of await entries(join(dir, sub))) {
      const path = join(dir, sub, e.name);
      if (e.name.startsWith(".")) continue; // hidden files are never messages (Maildir spec)
      if (!e.isFile()) {
        problems.push(
          `${path}: not a message file (a ${e.isDirectory() ? "directory" : "special file"})`,
        );
        continue;
      }
      const st = await stat(path);
      const info = sub === "cur" ? (/:2,([A-Za-z]*)$/.exec(e.name)?.[1] ?? "") : "";
      folder.files.push({ path, info, mtimeMs: st.mtimeMs, size: st.size });
    }
  }
  folder.files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : 1));
  return folder;
}

const isMaildir = async (dir: string) => {
  try {
    return (await stat(join(dir, "cur"))).isDirectory();
  } catch {
    return false;
  }
};

/** Every folder of a Maildir++ root, checked; `problems` lists whatever does not belong. */
export async function scanMaildir(
  root: string,
): Promise<{ folders: MaildirFolder[]; problems: string[] }> {
  const problems: string[] = [];
  if (!await isMaildir(root)) {
    return { folders: [], problems: [`${root}: not a Maildir (no cur/ folder)`] };
  }
  const folders = [await readFolder(root, "INBOX", problems)];
  for (const e of await entries(root)) {
    const path = join(root, e.name);
    if (["cur", "new", "tmp"].includes(e.name) || METADATA.test(e.name)) continue;
    if (e.isDirectory() && e.name.startsWith(".") && e.name.length > 1) {
      if (await isMaildir(path)) {
        folders.push(await readFolder(path, decodeFolderName(e.name), problems));
      } else problems.push(`${path}: a folder without cur/ (not a Maildir++ folder)`);
      continue;
    }
    problems.push(
      `${path}: unexpected ${e.isDirectory() ? "directory" : "file"} in the Maildir root`,
    );
  }
  return { folders, problems };
}

/** Reads every message file once to check it; problems are collected, nothing is kept. */
export async function checkMaildirMessages(
  folder: MaildirFolder,
  problems: string[],
): Promise<void> {
  for (const f of folder.files) {
    const problem = messageProblem(new Uint8Array(await readFile(f.path)), false);
    if (problem) {
      problems.push(
        `${f.path}: ${problem === "empty message" ? "empty file" : `not a message: ${problem}`}`,
      );
    }
  }
}

/** A folder's messages, one file read at a time. */
export async function* maildirItems(folder: MaildirFolder): AsyncGenerator<MailItem> {
  for (const f of folder.files) {
    yield {
      raw: wireForm(new Uint8Array(await readFile(f.path)), f.path),
      internalDate: Math.floor(f.mtimeMs / 1000) * 1000,
      flags: flagsFromMaildirInfo(f.info, (i) => folder.keywords[i]),
      origin: f.path,
    };
  }
}

/**
 * Dovecot keeps Maildir files with bare LF and names the size its IMAP clients see (CRLF) as
 * `,W=N`. When turning every bare LF into CRLF gives exactly N bytes, that is the message as
 * the old server served it, so it is stored that way; otherwise the file's bytes are kept.
 */
export function wireForm(raw: Uint8Array, path: string): Uint8Array {
  const w = /,W=(\d+)/.exec(path.slice(path.lastIndexOf("/") + 1));
  if (!w || Number(w[1]) === raw.length) return raw;
  let bare = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] === 10 && raw[i - 1] !== 13) bare++;
  if (raw.length + bare !== Number(w[1])) return raw;
  const out = new Uint8Array(raw.length + bare);
  let j = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 10 && raw[i - 1] !== 13) out[j++] = 13;
    out[j++] = raw[i];
  }
  return out;
}

/**
 * Hands back the pages of the runtime's executable an idle server no longer runs (issue 20, idle
 * memory). Start-up touches some 55 MiB of the `deno` executable (Bun's: as much) (code and read-only data:
 * V8's compiler, parser, snapshot, the Node compatibility layer), and they stay in the process's
 * resident set for good, although an idle server runs a fraction of them: they were half of an
 * idle `postern serve`'s RSS. `madvise(MADV_DONTNEED)` on those mappings drops them from this
 * process; they stay in the page cache, and a page the server runs again comes back on first use
 * by a minor fault (no disk read while the file is cached; about 1 µs a page, some 10 ms for all of
 * them when the next burst starts).
 *
 * The same goes for the shared libraries (libSQL's, 5 MiB, of which idle work runs 3). Only what
 * is certainly unchanged file content is dropped, because `MADV_DONTNEED` on a private mapping
 * discards the process's own copies of its pages: private mappings of files (not devices) that
 * are neither writable nor hold a single copied page (`Anonymous: 0 kB` in `/proc/self/smaps`;
 * the relocated data lives in writable ones). Those the kernel itself drops and reads back from
 * the file whenever memory runs short, so dropping them here risks nothing it does not. Linux
 * with glibc's `madvise`, through Deno's FFI or Bun's (`bun:ffi`); elsewhere (another OS or libc,
 * no FFI permission) nothing happens.
 */

import { readFileSync } from "node:fs";
import process from "node:process";

const MADV_DONTNEED = 4;

type Madvise = (address: bigint, length: bigint, advice: number) => number;

let madvise: Madvise | null | undefined;

/** Bun's FFI, reached through `import.meta.require` (Bun only; Deno has neither). */
interface BunFfi {
  dlopen(path: string, symbols: { madvise: { args: string[]; returns: string } }): {
    symbols: { madvise: Madvise };
  };
}

function load(): Madvise | null {
  if (madvise !== undefined) return madvise;
  madvise = null;
  if (process.platform !== "linux") return madvise;
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  const bunRequire = (globalThis as { Bun?: unknown }).Bun
    ? (import.meta as { require?: (id: string) => unknown }).require
    : undefined;
  try {
    if (typeof deno?.dlopen === "function") {
      const libc = deno.dlopen("libc.so.6", {
        madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
      });
      madvise = (address, length, advice) => libc.symbols.madvise(address, length, advice);
    } else if (bunRequire) {
      const libc = (bunRequire("bun:ffi") as BunFfi).dlopen("libc.so.6", {
        madvise: { args: ["u64", "u64", "i32"], returns: "i32" },
      });
      madvise = (address, length, advice) => libc.symbols.madvise(address, length, advice);
    }
  } catch { /* not glibc, or no FFI permission */ }
  return madvise;
}

interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  rss: number;
  anonymous: number;
  locked: number;
}

/** The mappings of `/proc/self/smaps` with the fields this module decides on (sizes in kB). */
export function parseSmaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | undefined;
  for (const line of text.split("\n")) {
    const head = line.match(/^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$/);
    if (head) {
      cur = {
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3],
        path: head[4],
        rss: 0,
        // Unknown until its line is read: counts as holding copies.
        anonymous: -1,
        locked: 0,
      };
      out.push(cur);
      continue;
    }
    const field = line.match(/^(Rss|Anonymous|Locked):\s+(\d+) kB/);
    if (!field || !cur) continue;
    const kB = Number(field[2]);
    if (field[1] === "Rss") cur.rss = kB;
    else if (field[1] === "Anonymous") cur.anonymous = kB;
    else cur.locked = kB;
  }
  return out;
}

/** File mappings whose resident pages are all unchanged file content. */
export function cleanFileMappings(mappings: Mapping[]): Mapping[] {
  return mappings.filter((m) =>
    m.path.startsWith("/") && !m.path.startsWith("/dev/") && m.perms[1] === "-" &&
    m.perms[3] === "p" && m.anonymous === 0 && m.locked === 0 && m.rss > 0
  );
}

/**
 * Drops the clean resident pages of the executable and its libraries from this process; returns
 * the kB dropped (0 where it cannot run).
 */
export function releaseFilePages(): number {
  const advise = load();
  if (!advise) return 0;
  try {
    const mappings = parseSmaps(readFileSync("/proc/self/smaps", "utf8"));
    let released = 0;
    for (const m of cleanFileMappings(mappings)) {
      if (advise(m.start, m.end - m.start, MADV_DONTNEED) === 0) released += m.rss;
    }
    return released;
  } catch {
    return 0; // no read permission for /proc
  }
}

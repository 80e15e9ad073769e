/**
 * Progress on stderr for long imports and exports: on a terminal one line redrawn in place (a bar,
 * messages and bytes done of the total, rate, ETA); otherwise plain lines, at most one every few
 * seconds plus one per folder, so logs and pipes stay readable.
 */
import process from "node:process";

export interface ProgressSink {
  write(text: string): void;
  isTTY: boolean;
}

const stderrSink: ProgressSink = {
  write: (text) => void process.stderr.write(text),
  isTTY: Boolean(process.stderr.isTTY),
};

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const mm = String(Math.floor((t % 3600) / 60)).padStart(2, "0");
  const ss = String(t % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class Progress {
  done = 0;
  bytes = 0;
  skipped = 0;
  #started = Date.now();
  #lastDraw = 0;
  #folder = "";

  constructor(
    readonly totalMessages: number,
    readonly totalBytes: number,
    readonly sink: ProgressSink = stderrSink,
    readonly intervalMs = sink.isTTY ? 100 : 2000,
  ) {}

  folder(name: string) {
    this.#folder = name;
    this.#draw(true);
  }

  /** One message handled (`skipped` when it was already there). */
  tick(bytes: number, skipped = false) {
    this.done++;
    this.bytes += bytes;
    if (skipped) this.skipped++;
    this.#draw(false);
  }

  line(): string {
    const secs = Math.max((Date.now() - this.#started) / 1000, 0.001);
    const rate = this.bytes / secs;
    const left = Math.max(this.totalBytes - this.bytes, 0);
    const eta = this.bytes > 0 ? left / rate : Infinity;
    const pct = this.totalBytes > 0
      ? this.bytes / this.totalBytes
      : this.done / (this.totalMessages || 1);
    const width = 20;
    const fill = Math.min(width, Math.round(pct * width));
    const bar = this.sink.isTTY ? `[${"#".repeat(fill)}${"-".repeat(width - fill)}] ` : "";
    return `${bar}${this.done}/${this.totalMessages} messages, ${formatBytes(this.bytes)}/${
      formatBytes(this.totalBytes)
    }, ${formatBytes(rate)}/s, ${(this.done / secs).toFixed(1)} msg/s, ETA ${formatDuration(eta)}` +
      (this.skipped ? `, ${this.skipped} already there` : "") +
      (this.#folder ? ` (${this.#folder})` : "");
  }

  #draw(force: boolean) {
    const now = Date.now();
    if (!force && now - this.#lastDraw < this.intervalMs) return;
    this.#lastDraw = now;
    this.sink.write(this.sink.isTTY ? `\r\x1b[K${this.line()}` : `${this.line()}\n`);
  }

  finish() {
    this.sink.write(this.sink.isTTY ? `\r\x1b[K${this.line()}\n` : `${this.line()}\n`);
  }
}

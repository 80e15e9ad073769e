/**
 * The CLI's command table and argument parsing: every command declares its options once, and the
 * same declaration drives `node:util` parseArgs (which Deno and Bun both provide) and `--help`.
 * Exit codes: 0 success, 1 the operation failed, 2 bad usage, an invalid value or bad
 * configuration, 3 a conflict with what already exists (`init` on a store made differently).
 */
import { parseArgs } from "node:util";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** The request contradicts existing state (e.g. `init` with another master key). */
export const EXIT_CONFLICT = 3;

/** An error that ends the command with a message and an exit code, without a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_FAILED, readonly lines?: string[]) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(message, EXIT_USAGE);

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `FILE`. */
  arg?: string;
  help: string;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Invocation {
  values: Values;
  positionals: string[];
}

export interface Command {
  /** Full name as typed, e.g. `account add`. */
  name: string;
  summary: string;
  /** Positional arguments for the usage line, e.g. `<address>`. */
  args?: string;
  /** Number of positionals accepted: [min, max]. Default [0, 0]. */
  arity?: [number, number];
  /** Extra paragraphs shown under the usage line. */
  details?: string[];
  options?: Record<string, OptionSpec>;
  run(inv: Invocation): Promise<number | void>;
}

export interface Group {
  name: string;
  summary: string;
  subcommands: Command[];
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  config: {
    type: "string",
    arg: "FILE",
    help: "JSON config file (camelCase keys); the environment wins. Default: $POSTERN_CONFIG",
  },
  help: { type: "boolean", short: "h", help: "Show this help" },
};

export const JSON_OPTION: Record<string, OptionSpec> = {
  json: { type: "boolean", help: "Print JSON instead of a table" },
};

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : "    "}--${name}${
      spec.type === "string" ? ` ${spec.arg ?? "VALUE"}` : ""
    }`;
    return [flag, spec.help + (spec.multiple ? " (repeatable)" : "")];
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`);
}

export function commandHelp(cmd: Command): string {
  const lines = [
    `${cmd.summary}`,
    "",
    `Usage: postern ${cmd.name}${cmd.args ? ` ${cmd.args}` : ""} [options]`,
  ];
  for (const p of cmd.details ?? []) lines.push("", p);
  lines.push("", "Options:", ...optionLines({ ...cmd.options, ...GLOBAL_OPTIONS }));
  return lines.join("\n");
}

export function groupHelp(group: Group): string {
  const short = (c: Command) => c.name.slice(group.name.length + 1);
  const width = Math.max(...group.subcommands.map((c) => short(c).length)) + 2;
  return [
    group.summary,
    "",
    `Usage: postern ${group.name} <command> [options]`,
    "",
    "Commands:",
    ...group.subcommands.map((c) => `  ${short(c).padEnd(width)}${c.summary}`),
    "",
    `Run \`postern ${group.name} <command> --help\` for a command's options.`,
  ].join("\n");
}

/** Parses a command's arguments; unknown options and wrong positional counts are usage errors. */
export function parseCommandArgs(cmd: Command, argv: string[]): Invocation {
  const specs = { ...cmd.options, ...GLOBAL_OPTIONS };
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type };
    if (spec.short) options[name].short = spec.short;
    if (spec.multiple) options[name].multiple = true;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw usageError(`${(e as Error).message}\nRun \`postern ${cmd.name} --help\`.`);
  }
  const values = parsed.values as Values;
  if (values.help) return { values, positionals: parsed.positionals };
  const [min, max] = cmd.arity ?? [0, 0];
  const n = parsed.positionals.length;
  if (n < min || n > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    throw usageError(
      `\`postern ${cmd.name}\` takes ${want} argument(s) (${
        cmd.args ?? "none"
      }), got ${n}\nRun \`postern ${cmd.name} --help\`.`,
    );
  }
  return { values, positionals: parsed.positionals };
}

export const str = (v: Values, name: string): string | undefined =>
  typeof v[name] === "string" ? v[name] as string : undefined;

export const list = (v: Values, name: string): string[] => {
  const raw = v[name];
  const items = Array.isArray(raw) ? raw : typeof raw === "string" ? [raw] : [];
  // `--to a --to b` and `--to a,b` both work.
  return items.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
};

export const flag = (v: Values, name: string): boolean => v[name] === true;

/** Prints rows as an aligned text table. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

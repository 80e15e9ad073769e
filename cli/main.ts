/**
 * The `postern` command line: finds the command, parses its options, prints help, and turns
 * failures into a message and an exit code (1 failed, 2 bad usage, invalid values or
 * configuration, 3 a conflict with existing state). This is the one place that maps errors to
 * exit codes. Runs on
 * Deno and Bun alike.
 */
import { AppError } from "../src/errors.ts";
import {
  CliError,
  type Command,
  commandHelp,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  type Group,
  groupHelp,
  parseCommandArgs,
} from "./args.ts";
import { COMMANDS } from "./commands.ts";

export { COMMANDS };

const isGroup = (c: Command | Group): c is Group => "subcommands" in c;

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    "postern — a mail server for the edge",
    "",
    "Usage: postern <command> [options]      (deno task cli <command> …, or bun main.ts …)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Every command takes --help, and --config FILE (a JSON file of settings; the environment",
    "wins). Settings: `postern config example`. Exit codes: 0 ok, 1 failed, 2 bad usage, an",
    "invalid value (a malformed address, a too-short password) or bad configuration, 3 a",
    "conflict with the existing store (`init`).",
  ].join("\n");
}

/** AppError codes meaning "the value given is malformed or invalid", not "the operation failed". */
const USAGE_CODES = new Set<AppError["code"]>(["bad_request", "validation_failed", "invalid_json"]);

function fail(error: unknown): number {
  if (error instanceof CliError) {
    console.error(`postern: ${error.message}`);
    for (const line of error.lines ?? []) console.error(line);
    return error.exitCode;
  }
  if (error instanceof AppError) {
    console.error(`postern: ${error.message}`);
    for (const f of error.fields ?? []) console.error(`  - ${f.path}: ${f.message}`);
    // The services' own verdict that the input is at fault (HTTP 400/422) is a usage error
    // here, whichever command passed the value on (`account add bad-address`).
    return USAGE_CODES.has(error.code) ? EXIT_USAGE : EXIT_FAILED;
  }
  // A port someone else holds (a second `postern serve`, a system Postfix on 25) is the first
  // thing a newcomer meets; it deserves a sentence, not a stack trace.
  const e = error as { code?: string; name?: string; message?: string };
  if (e?.code === "EADDRINUSE" || e?.name === "AddrInUse") {
    console.error(`postern: cannot listen: ${e.message}`);
    console.error(
      "  Another server (perhaps another Postern) already listens there. Stop it, or choose " +
        "other ports: --port or POSTERN_HTTP_PORT, POSTERN_SMTP_PORT, POSTERN_SUBMISSION_PORT, " +
        "POSTERN_IMAP_PORT, POSTERN_POP3_PORT, POSTERN_MANAGESIEVE_PORT, POSTERN_SHARP_PORT " +
        "(0 turns a listener off; " +
        "`postern serve --help`).",
    );
    return EXIT_FAILED;
  }
  console.error(`postern: unexpected error: ${(error as Error)?.stack ?? error}`);
  return EXIT_FAILED;
}

/** Runs the CLI with the given arguments; resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    console.log(mainHelp());
    return first === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (first === "--version" || first === "-V") {
    const { API_VERSION } = await import("../src/app.ts");
    console.log(`postern ${API_VERSION}`);
    return EXIT_OK;
  }
  const entry = COMMANDS.find((c) => c.name === first);
  if (!entry) {
    console.error(`postern: unknown command "${first}"\n\n${mainHelp()}`);
    return EXIT_USAGE;
  }
  let command: Command;
  let args = rest;
  if (isGroup(entry)) {
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === "--help" || sub === "-h" || sub === "help") {
      console.log(groupHelp(entry));
      return sub === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const found = entry.subcommands.find((c) => c.name === `${entry.name} ${sub}`);
    if (!found) {
      console.error(`postern: unknown command "${entry.name} ${sub}"\n\n${groupHelp(entry)}`);
      return EXIT_USAGE;
    }
    command = found;
    args = subArgs;
  } else {
    command = entry;
  }
  try {
    const invocation = parseCommandArgs(command, args);
    if (invocation.values.help) {
      console.log(commandHelp(command));
      return EXIT_OK;
    }
    // A misspelt setting would otherwise be ignored in silence; `config check` lists these
    // itself. A warning only: other tools may use the POSTERN_ prefix too.
    if (command.name !== "config check") {
      const { environmentWarnings } = await import("./context.ts");
      for (const w of environmentWarnings()) console.error(`postern: warning: ${w}`);
    }
    return (await command.run(invocation)) ?? EXIT_OK;
  } catch (error) {
    return fail(error);
  }
}

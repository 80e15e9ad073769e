/**
 * The `postern` entry point: `deno run -A main.ts <command>` (or `deno task cli <command>`,
 * `bun main.ts <command>`). See `postern --help` and cli/main.ts.
 */
import process from "node:process";
import { runCli } from "./cli/main.ts";

if (import.meta.main) {
  const code = await runCli(process.argv.slice(2));
  process.exit(code);
}

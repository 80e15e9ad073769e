/**
 * The `postern` entry point: `deno run -A main.ts <command>` (or `deno task cli <command>`,
 * `bun main.ts <command>`). See `postern --help` and cli/main.ts.
 */
import process from "node:process";
import { runCli } from "./cli/main.ts";
import { useHashWasmArgon2 } from "./hosts/process/argon2_module.ts";

if (import.meta.main) {
  // Passwords hash on one kept argon2 instance (hosts/process/argon2_module.ts says why).
  useHashWasmArgon2();
  const code = await runCli(process.argv.slice(2));
  process.exit(code);
}

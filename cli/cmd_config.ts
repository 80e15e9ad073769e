/**
 * `postern config …`: the example environment file generated from the configuration schema
 * (src/config.ts), and a check that reports every problem of the current configuration at once.
 */
import { CONFIG_FIELDS, envExample, SECRET_SETTINGS } from "../src/config.ts";
import { flag, type Invocation } from "./args.ts";
import { environmentWarnings, loadConfig, paths, printJson } from "./context.ts";

export function configExample() {
  console.log(envExample().trimEnd());
  return Promise.resolve();
}

export async function configCheck({ values }: Invocation) {
  const warnings = environmentWarnings();
  const config = await loadConfig(values).catch((e) => {
    // A misspelt name often explains an invalid or missing value: say both.
    for (const w of warnings) console.error(`postern: warning: ${w}`);
    throw e;
  });
  const shown: Record<string, unknown> = { ...config, databaseUrl: paths(config).databaseLabel };
  for (const key of SECRET_SETTINGS) {
    if (shown[key] !== undefined) shown[key] = "(set)";
  }
  if (flag(values, "json")) {
    // The JSON stays the effective configuration; the warnings go to standard error.
    for (const w of warnings) console.error(`postern: warning: ${w}`);
    return printJson(shown);
  }
  for (const [key, field] of Object.entries(CONFIG_FIELDS)) {
    const value = shown[key];
    console.log(`${field.env.padEnd(40)}${value === undefined ? "(unset)" : String(value)}`);
  }
  for (const w of warnings) console.log(`warning: ${w}`);
  const n = warnings.length;
  console.log(`configuration ok${n ? ` (${n} warning${n === 1 ? "" : "s"})` : ""}`);
}

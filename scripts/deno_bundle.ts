/**
 * `deno bundle` as the build scripts run it (scripts/build_serve.ts, scripts/build_worker.ts):
 * from the project's root, with its deno.json, output captured and colour off so that a failure's
 * stderr reads as plain text in an error or a warning.
 */

/** The project's root folder (no trailing slash). */
export const rootPath = decodeURIComponent(new URL("../", import.meta.url).pathname).replace(
  /\/$/,
  "",
);

/** Runs `deno bundle <args> --config deno.json <entry>`; the caller reads success and stderr. */
export function denoBundle(args: string[], entry: string): Promise<Deno.CommandOutput> {
  return new Deno.Command(Deno.execPath(), {
    args: ["bundle", ...args, "--config", `${rootPath}/deno.json`, entry],
    cwd: rootPath,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
}

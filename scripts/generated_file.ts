/**
 * The tail every generator in scripts/ shares: format the generated TypeScript with `deno fmt`,
 * then either write it or — with `--check`, as `deno task check` runs it — fail when the file
 * on disk differs, naming the task that regenerates it.
 */
export async function writeGenerated(target: URL, source: string, task: string): Promise<void> {
  const scratch = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(scratch, source);
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", scratch] }).output();
  const formatted = await Deno.readTextFile(scratch);
  await Deno.remove(scratch);
  const name = decodeURIComponent(target.pathname);
  if (Deno.args.includes("--check")) {
    const current = await Deno.readTextFile(target).catch(() => "");
    if (current !== formatted) {
      console.error(`${name} is stale: run \`deno task ${task}\``);
      Deno.exit(1);
    }
    return;
  }
  await Deno.writeTextFile(target, formatted);
  console.log(`wrote ${name}`);
}

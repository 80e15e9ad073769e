/**
 * `deno task start`'s first step: `postern` as one minified ES module, .build/serve/main.js, for
 * `postern serve` to run instead of its 380 source modules and their npm packages (issue 20,
 * idle memory). Deno keeps every module it loaded for the process's life: the module graph with
 * each source's text on the native side, a module record, source string and scope data per
 * module in the JavaScript heap. Run from one file, an idle `postern serve` holds about 20 MB
 * less (the native heap 24 → 9 MB), with the same code doing the same work at the same CPU per
 * message (bench/run.ts section c).
 *
 * What stays outside: packages loaded only when first used, which Deno loads from node_modules
 * as before (mailauth, whose `require("../package")` the bundler cannot follow; mailparser;
 * imapflow), and `libsql`, which loads its native library by platform at run time. The worker
 * threads (hosts/process/*_worker.ts) start from their own source files: the bundle's
 * `import.meta.url` is rewritten to hosts/process/, the folder every `new URL(…, import.meta.url)`
 * of the serve graph is written from (the workers, static_assets.ts's node_modules/).
 *
 * Minified, names too: `--keep-names` would cost about 4 MB idle (a property redefined on each of
 * some 4,600 functions). The source map is written beside it as main.js.map but not linked from
 * the bundle: Deno reads a linked map at load and holds it (about 18 MB). To read a stack trace
 * of the bundle, map its positions with main.js.map, or run the sources (`deno task cli serve`).
 * `deno task start` runs the bundle with `--node-modules-dir=manual`, which spares the check of
 * node_modules at every start (and the threads and memory it leaves, about 5 MB): this build has
 * just brought node_modules up to date.
 *
 * When bundling fails (`deno bundle` is marked experimental), the output is a small module that
 * runs the CLI from its sources, so `deno task start` still starts — with a warning.
 * `deno run -A scripts/build_serve.ts [--out DIR]` (DIR inside the project, so that the bundle's
 * own imports resolve from its node_modules).
 */
import { denoBundle, rootPath } from "./deno_bundle.ts";

const root = new URL("../", import.meta.url);

/** Loaded at run time from node_modules (see above). */
const EXTERNAL = ["mailauth", "mailparser", "imapflow", "libsql"];

/** The folder whose files the serve graph's `import.meta.url` expressions are written from. */
const HOST_DIR = "hosts/process/";

/**
 * The bundle with every character outside ASCII written as a `\\u` escape. V8 holds a module's
 * source for its whole life, one byte per character when all of them are Latin-1 and two bytes
 * otherwise: the four non-ASCII characters of the bundle (a `€£` in a regular expression, a
 * licence comment's accented name) made its 2.4 MB of text a 4.8 MB string. The bundler leaves
 * them in string, regular-expression and template literals and in comments, where `\\uXXXX`
 * means the same character (an astral one as its surrogate pair, as in a UTF-16 string). On
 * their lines the source map's columns after them are five off per character.
 */
export function asciiOnly(code: string): string {
  return code.replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export interface ServeBuild {
  script: string;
  /** False when bundling failed and the script runs the sources. */
  bundled: boolean;
  bytes: number;
  detail?: string;
}

export async function buildServe(options: { out?: string } = {}): Promise<ServeBuild> {
  const dir = options.out ?? `${rootPath}/.build/serve`;
  await Deno.mkdir(dir, { recursive: true });
  const script = `${dir}/main.js`;
  const staging = `${dir}/main.staging.js`;
  const args = ["--platform", "deno", "--format", "esm", "--minify", "--sourcemap=external"];
  args.push("-o", staging);
  for (const name of EXTERNAL) args.push(`--external=${name}`);
  const result = await denoBundle(args, `${rootPath}/main.ts`);
  const fromRoot = (path: string) => JSON.stringify(new URL(path, root).href);
  let text: string;
  let detail: string | undefined;
  if (result.success) {
    const bundle = await Deno.readTextFile(staging);
    // One URL for every module of the bundle: that of the folder the expressions were written in.
    text = `const __posternHostUrl = ${fromRoot(`${HOST_DIR}bundle.js`)};\n` +
      asciiOnly(bundle.replaceAll("import.meta.url", "__posternHostUrl"));
    // The map stays beside the bundle, unlinked (see above); one line more at its top.
    const map = JSON.parse(await Deno.readTextFile(`${staging}.map`));
    map.mappings = `;${map.mappings}`;
    await Deno.writeTextFile(`${script}.map`, JSON.stringify(map));
  } else {
    detail = new TextDecoder().decode(result.stderr).trim();
    text = [
      "// deno bundle failed (scripts/build_serve.ts): runs the sources instead.",
      `import process from "node:process";`,
      `import { runCli } from ${fromRoot("cli/main.ts")};`,
      "process.exit(await runCli(process.argv.slice(2)));",
      "",
    ].join("\n");
  }
  await Deno.remove(staging).catch(() => {});
  await Deno.remove(`${staging}.map`).catch(() => {});
  // Written whole and renamed, so a server starting meanwhile never reads half a bundle.
  await Deno.writeTextFile(`${script}.tmp`, text);
  await Deno.rename(`${script}.tmp`, script);
  return { script, bundled: result.success, bytes: text.length, detail };
}

if (import.meta.main) {
  const outAt = Deno.args.indexOf("--out");
  const build = await buildServe({ out: outAt >= 0 ? Deno.args[outAt + 1] : undefined });
  if (!build.bundled) {
    console.error(
      `postern: bundling failed, ${build.script} runs the sources (more memory):\n${build.detail}`,
    );
  }
}

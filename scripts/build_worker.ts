/**
 * `deno task worker:build`: the Cloudflare Worker bundle. hosts/worker/main.ts and everything it
 * imports (src/, schemas/, the npm packages) become one ES module, .build/worker/worker.js, built
 * by `deno bundle --platform browser` (esbuild underneath) and minified; the static assets the
 * gateway names (the API reference's renderer) are copied to .build/worker/assets/ for the
 * Worker's ASSETS binding. Prints the bundle's size raw and gzip-compressed (what Cloudflare's
 * 3 MB limit of the free plan counts; 10 MB on paid plans).
 *
 * `--no-minify` keeps the output readable; `--out DIR` writes elsewhere (tests use a temporary
 * folder so parallel runs do not share files).
 */
import { DOCS_RENDERER } from "../src/routes/docs.ts";

const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname).replace(/\/$/, "");

/** Asset name → file inside node_modules (hosts/process/static_assets.ts serves the same). */
const ASSETS: Record<string, string> = {
  [DOCS_RENDERER]: "node_modules/@scalar/api-reference/dist/browser/standalone.js",
};

export interface WorkerBuild {
  dir: string;
  script: string;
  rawBytes: number;
  gzipBytes: number;
}

async function gzipSize(bytes: Uint8Array): Promise<number> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

export async function buildWorker(
  options: { out?: string; minify?: boolean } = {},
): Promise<WorkerBuild> {
  const dir = options.out ?? `${rootPath}/.build/worker`;
  await Deno.mkdir(`${dir}/assets`, { recursive: true });
  const script = `${dir}/worker.js`;
  const args = ["bundle", "--platform", "browser", "--format", "esm", "-o", script];
  if (options.minify !== false) args.push("--minify");
  args.push("hosts/worker/main.ts");
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: rootPath,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!result.success) {
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(result.stderr)}`);
  }
  for (const [name, path] of Object.entries(ASSETS)) {
    await Deno.copyFile(`${rootPath}/${path}`, `${dir}/assets/${name}`);
  }
  const bytes = await Deno.readFile(script);
  return { dir, script, rawBytes: bytes.byteLength, gzipBytes: await gzipSize(bytes) };
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MiB`;

if (import.meta.main) {
  const outAt = Deno.args.indexOf("--out");
  const build = await buildWorker({
    out: outAt >= 0 ? Deno.args[outAt + 1] : undefined,
    minify: !Deno.args.includes("--no-minify"),
  });
  console.log(
    `${build.script}: ${mb(build.rawBytes)} raw, ${mb(build.gzipBytes)} gzip ` +
      `(${build.rawBytes} / ${build.gzipBytes} bytes); assets in ${build.dir}/assets`,
  );
}

/**
 * `deno task check`: every static check in one task. Formatting, lint, type-checking of the entry
 * points and all tests, an edge type-check of src/ and schemas/ against DOM/ESNext libs only (no
 * Deno types), a scan for Deno/Node APIs in edge code, the import boundaries of DESIGN.md, the
 * migrations bundle, the files generated from the config schema (deploy/env.example and
 * README's settings table), and the typed client's files generated from the OpenAPI document
 * (clients/typescript). Prints ok/FAIL per check; exits 1 when any fails.
 * `deno task check fmt lint` runs only the named checks.
 */
const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname).replace(/\/$/, "");
const SKIP_DIRS = new Set(["node_modules", "data", ".git", ".bench", ".ci"]);

interface Outcome {
  ok: boolean;
  detail?: string;
}

/** Repo-relative paths of .ts/.tsx files under `dir` (no node_modules, data, …). */
async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${rootPath}/${rel}`)];
    } catch {
      return;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory && !SKIP_DIRS.has(e.name)) await walk(path);
      else if (e.isFile && /\.tsx?$/.test(e.name)) out.push(path);
    }
  };
  await walk(dir);
  return out;
}

async function run(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: rootPath,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success, detail: out.success ? undefined : text };
}

const isTest = (path: string) => path.endsWith("_test.ts") || path.startsWith("test/");

/** Source text with comments blanked out, so prose mentioning `Deno.` is not flagged. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

const IMPORT_RE =
  /(?:\bimport\s*(?:type\s+)?(?:[\w*{}\s,$]+\s+from\s+)?|\bexport\s+(?:type\s+)?[\w*{}\s,$]+\s+from\s+|\bimport\s*\(\s*)["']([^"']+)["']/g;

function importsOf(source: string): string[] {
  return [...stripComments(source).matchAll(IMPORT_RE)].map((m) => m[1]);
}

/** A relative specifier resolved to a repo-relative path; bare specifiers are returned as is. */
function resolveSpecifier(from: string, specifier: string): string {
  if (!specifier.startsWith(".")) return specifier;
  const url = new URL(specifier, new URL(from, root));
  return decodeURIComponent(url.pathname).slice(rootPath.length + 1);
}

const NODE_BUILTINS = new Set([
  "assert",
  "buffer",
  "child_process",
  "crypto",
  "dgram",
  "dns",
  "events",
  "fs",
  "fs/promises",
  "http",
  "https",
  "net",
  "os",
  "path",
  "process",
  "stream",
  "tls",
  "url",
  "util",
  "worker_threads",
  "zlib",
]);

async function edgeScan(): Promise<Outcome> {
  const problems: string[] = [];
  // hosts/worker/ is edge code too: it runs in workerd without Node compatibility.
  const edge = [
    ...await tsFiles("src"),
    ...await tsFiles("schemas"),
    ...await tsFiles("hosts/worker"),
  ];
  for (const path of edge) {
    if (isTest(path)) continue;
    const source = await Deno.readTextFile(`${rootPath}/${path}`);
    const code = stripComments(source);
    code.split("\n").forEach((line, i) => {
      if (/\bDeno\s*\.\s*\w/.test(line)) problems.push(`${path}:${i + 1}: uses Deno.*`);
      if (/\bBun\s*\.\s*\w/.test(line)) problems.push(`${path}:${i + 1}: uses Bun.*`);
    });
    for (const spec of importsOf(source)) {
      if (spec.startsWith("node:") || NODE_BUILTINS.has(spec)) {
        problems.push(`${path}: imports ${spec} (edge code uses Web APIs only)`);
      }
    }
  }
  return problems.length ? { ok: false, detail: problems.join("\n") } : { ok: true };
}

/** DESIGN.md: schemas ← src ← entry points, schemas ← bridge ← entry points. */
const RULES: {
  dir: string;
  banned: (target: string, from: string) => string | undefined;
  tests?: boolean;
}[] = [
  {
    dir: "schemas",
    banned: (t) =>
      /^(src|bridge|cli|hosts|test)\/|^main\.ts$/.test(t) ? "schemas/ is the contract" : undefined,
  },
  {
    dir: "src",
    banned: (t) =>
      /^(bridge|cli|hosts)\/|^main\.ts$/.test(t) ? "src/ must not know its runners" : undefined,
  },
  {
    dir: "bridge",
    banned: (t) =>
      /^(src|cli|hosts)\/|^main\.ts$/.test(t)
        ? "bridge/ talks to the gateway over HTTP only"
        : /^(npm:)?(drizzle-orm|drizzle-kit|@libsql\/)/.test(t)
        ? "the bridge never touches the database"
        : undefined,
  },
  {
    // DESIGN.md: host adapters (hosts/process, hosts/worker, …) get rooms of their own; the
    // CLI's commands use them, never the other way round, and one host never imports another's.
    dir: "hosts",
    banned: (t, from) =>
      /^cli\/|^main\.ts$/.test(t)
        ? "host adapters do not know the CLI's commands"
        : t.startsWith("hosts/") && t.split("/")[1] !== from.split("/")[1]
        ? "one host's adapters never import another host's"
        : undefined,
  },
  {
    dir: "hosts/worker",
    banned: (t) => /^hosts\/(?!worker\/)/.test(t) ? "one host never imports another's" : undefined,
  },
];

async function boundaries(): Promise<Outcome> {
  const problems: string[] = [];
  for (const rule of RULES) {
    for (const path of await tsFiles(rule.dir)) {
      const source = await Deno.readTextFile(`${rootPath}/${path}`);
      for (const spec of importsOf(source)) {
        const target = resolveSpecifier(path, spec);
        const why = rule.banned(target, path);
        if (why) problems.push(`${path}: imports ${spec} — ${why}`);
        // Unit tests may use the shared fixtures; production code may not.
        else if (!isTest(path) && target.startsWith("test/")) {
          problems.push(`${path}: imports ${spec} — only tests may use test/`);
        }
      }
    }
  }
  return problems.length ? { ok: false, detail: problems.join("\n") } : { ok: true };
}

/** Type-checks src/ and schemas/ with DOM/ESNext libs only: what an edge runtime offers. */
async function edgeTypes(): Promise<Outcome> {
  const files = [
    ...await tsFiles("src"),
    ...await tsFiles("schemas"),
    ...await tsFiles("hosts/worker"),
  ]
    .filter((p) => !isTest(p));
  // An explicit --config turns off package.json discovery, so the npm packages are mapped here
  // from package.json's pinned versions (resolved from the same node_modules; the lock file is
  // left alone).
  const pkg = JSON.parse(await Deno.readTextFile(`${rootPath}/package.json`));
  const imports: Record<string, string> = {};
  for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
    imports[name] = `npm:${name}@${version}`;
    imports[`${name}/`] = `npm:/${name}@${version}/`;
  }
  const config = `${rootPath}/.check_edge_${Deno.pid}.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      nodeModulesDir: "auto",
      imports,
      compilerOptions: {
        lib: ["dom", "dom.iterable", "esnext"],
        types: [],
        jsx: "react-jsx",
        jsxImportSource: "hono/jsx",
      },
    }),
  );
  try {
    return await run(["check", "--quiet", "--no-lock", "--config", config, ...files]);
  } finally {
    await Deno.remove(config).catch(() => undefined);
  }
}

async function typecheckAll(): Promise<Outcome> {
  const tests = [
    ...await tsFiles("test"),
    ...(await tsFiles("")).filter((p) => p.endsWith("_test.ts") && !p.startsWith("test/")),
  ];
  const files = [
    "main.ts",
    "hosts/deno_deploy/main.ts",
    ...await tsFiles("scripts"),
    ...await tsFiles("bench"),
    ...tests,
  ];
  return await run(["check", "--quiet", ...new Set(files)]);
}

const CHECKS: Record<string, () => Promise<Outcome>> = {
  fmt: () => run(["fmt", "--check"]),
  lint: () => run(["lint"]),
  types: typecheckAll,
  "edge-types": edgeTypes,
  "edge-apis": edgeScan,
  boundaries,
  migrations: () => run(["run", "-A", "scripts/gen_migrations.ts", "--check"]),
  "config-docs": () => run(["run", "-A", "scripts/gen_config_docs.ts", "--check"]),
  client: () => run(["run", "-A", "scripts/gen_client.ts", "--check"]),
  "web-assets": () => run(["run", "-A", "scripts/gen_web_assets.ts", "--check"]),
};

const wanted = Deno.args.length ? Deno.args : Object.keys(CHECKS);
const unknown = wanted.filter((name) => !(name in CHECKS));
if (unknown.length) {
  console.error(
    `unknown check(s): ${unknown.join(", ")}; known: ${Object.keys(CHECKS).join(", ")}`,
  );
  Deno.exit(2);
}

let failed = 0;
for (const name of wanted) {
  const started = performance.now();
  let outcome: Outcome;
  try {
    outcome = await CHECKS[name]();
  } catch (e) {
    outcome = { ok: false, detail: String((e as Error)?.stack ?? e) };
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${outcome.ok ? "ok  " : "FAIL"} ${name} (${secs}s)`);
  if (!outcome.ok) {
    failed++;
    const lines = (outcome.detail ?? "").trimEnd().split("\n");
    const shown = lines.length > 60
      ? [...lines.slice(0, 60), `… ${lines.length - 60} more lines`]
      : lines;
    for (const line of shown) console.log(`     ${line}`);
  }
}
console.log(`check: ${wanted.length - failed} ok, ${failed} failed`);
Deno.exit(failed ? 1 : 0);

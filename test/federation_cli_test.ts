/**
 * `postern domain keys list|rotate DOMAIN` as an operator runs it (a subprocess on a temporary
 * data folder): rotation publishes a new signing key, the old one stays for the overlap window
 * or leaves at once with `--overlap 0`.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

async function cli(args: string[], env: Record<string, string>) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT.pathname,
    env: { ...base, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("postern domain keys: list, rotate with overlap, rotate without", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-keys-" });
  const env = { POSTERN_DATA_DIR: `${dir}/data`, POSTERN_ADMIN_PASSWORD: "admin-password-1234" };
  assertEquals((await cli(["init"], env)).code, 0);
  const json = async (args: string[]) => {
    const r = await cli([...args, "--json"], env);
    assertEquals(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  assertEquals(await json(["domain", "keys", "list", "postern.localhost"]), []);
  const first = await json(["domain", "keys", "rotate", "postern.localhost"]);
  assertEquals(first.retired, []);
  const second = await json(["domain", "keys", "rotate", "postern.localhost", "--overlap", "2"]);
  assertEquals(second.retired.map((r: { kid: string }) => r.kid), [first.kid]);
  const hours = (Date.parse(second.retired[0].expiresAt) - Date.now()) / 3_600_000;
  assert(hours > 1.9 && hours <= 2, `overlap of ${hours} h`);
  await json(["domain", "keys", "rotate", "postern.localhost", "--overlap", "0"]);
  const keys = await json(["domain", "keys", "list", "postern.localhost"]);
  assertEquals(keys.map((k: { state: string }) => k.state), ["signing", "expired", "published"]);
  assertEquals(keys[2].kid, first.kid);
  const missing = await cli(["domain", "keys", "rotate", "nowhere.example"], env);
  assertEquals(missing.code, 1, missing.stderr);
  assertEquals((await cli(["domain", "keys", "spin", "postern.localhost"], env)).code, 2);
});

/**
 * `postern domain keys list|rotate DOMAIN` as an operator runs it (a subprocess on a temporary
 * data folder): `init` and `domain add` make each domain's first signing key with the domain,
 * rotation publishes a new one, the old one stays for the overlap window or leaves at once with
 * `--overlap 0`.
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
  // init made the domain's first key with it.
  const initial = await json(["domain", "keys", "list", "postern.localhost"]);
  assertEquals(initial.map((k: { state: string }) => k.state), ["signing"]);
  const first = await json(["domain", "keys", "rotate", "postern.localhost"]);
  assertEquals(first.retired.map((r: { kid: string }) => r.kid), [initial[0].kid]);
  const second = await json(["domain", "keys", "rotate", "postern.localhost", "--overlap", "2"]);
  assertEquals(second.retired.map((r: { kid: string }) => r.kid), [first.kid]);
  const hours = (Date.parse(second.retired[0].expiresAt) - Date.now()) / 3_600_000;
  assert(hours > 1.9 && hours <= 2, `overlap of ${hours} h`);
  await json(["domain", "keys", "rotate", "postern.localhost", "--overlap", "0"]);
  const keys = await json(["domain", "keys", "list", "postern.localhost"]);
  assertEquals(
    keys.map((k: { state: string }) => k.state),
    ["signing", "expired", "published", "published"],
  );
  assertEquals([keys[2].kid, keys[3].kid], [first.kid, initial[0].kid]);
  const missing = await cli(["domain", "keys", "rotate", "nowhere.example"], env);
  assertEquals(missing.code, 1, missing.stderr);
  assertEquals((await cli(["domain", "keys", "spin", "postern.localhost"], env)).code, 2);
});

Deno.test("postern domain add makes the domain's federation signing key with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-keys-" });
  const env = { POSTERN_DATA_DIR: `${dir}/data`, POSTERN_ADMIN_PASSWORD: "admin-password-1234" };
  try {
    assertEquals((await cli(["init"], env)).code, 0);
    const added = await cli(["domain", "add", "example.org"], env);
    assertEquals(added.code, 0, added.stderr);
    assert(added.stdout.includes("federation signing key"), added.stdout);
    const listed = await cli(["domain", "keys", "list", "example.org", "--json"], env);
    assertEquals(listed.code, 0, listed.stderr);
    const keys = JSON.parse(listed.stdout);
    assertEquals(keys.map((k: { state: string }) => k.state), ["signing"]);
    assert(/^[\w-]{43}$/.test(keys[0].kid), `an RFC 7638 thumbprint as kid: ${keys[0].kid}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

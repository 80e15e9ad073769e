import { assertEquals, assertMatch } from "../../test/fixtures/assert.ts";
import { DEFAULT_DOH_URL, WorkerConfigError, type WorkerEnv, workerSettings } from "./env.ts";

const DB = { prepare: () => ({}), batch: () => Promise.resolve([]) } as unknown as WorkerEnv["DB"];
const KEY = "k".repeat(40);

Deno.test("issue17#1: Worker settings come from vars and secrets, with edge defaults", () => {
  const s = workerSettings({
    DB,
    POSTERN_DOMAIN: "Example.ORG",
    POSTERN_MASTER_KEY: KEY,
    POSTERN_ADMIN_PASSWORD: "admin-password-1",
    POSTERN_MAX_MESSAGE_BYTES: "1048576",
    POSTERN_DNS_DOH_URL: "",
    POSTERN_MAX_MESAGE_BYTES: "1",
    NOT_OURS: "x",
  });
  assertEquals([s.domain, s.admin, s.masterKey], ["example.org", "admin@example.org", KEY]);
  assertEquals(s.config.hostname, "example.org");
  assertEquals(s.config.dnsDohUrl, DEFAULT_DOH_URL);
  assertEquals(s.config.maxMessageBytes, 1048576);
  assertEquals(s.warnings, [
    "unknown setting POSTERN_MAX_MESAGE_BYTES is ignored (did you mean POSTERN_MAX_MESSAGE_BYTES?)",
  ]);
});

Deno.test("issue17#1: a misconfigured Worker hears every problem at once, secrets unshown", () => {
  let error: unknown;
  try {
    workerSettings({
      DB: undefined as unknown as WorkerEnv["DB"],
      POSTERN_DOMAIN: "example.org",
      POSTERN_ADMIN_ADDRESS: "boss@elsewhere.example",
      POSTERN_MASTER_KEY: "short-secret",
      POSTERN_HTTP_PORT: "http",
    });
  } catch (e) {
    error = e;
  }
  const problems = (error as WorkerConfigError).problems;
  assertEquals(problems.length, 4, problems.join("\n"));
  assertMatch(problems[0], /^POSTERN_ADMIN_ADDRESS=boss@elsewhere\.example is not in example\.org/);
  assertMatch(problems[1], /^DB: no D1 database is bound/);
  const rest = problems.slice(2).sort();
  assertMatch(rest[0], /^POSTERN_HTTP_PORT=http: expected a whole number/);
  assertMatch(rest[1], /^POSTERN_MASTER_KEY=\(secret, 12 characters\): /);
  assertEquals(problems.some((p) => p.includes("short-secret")), false);
});

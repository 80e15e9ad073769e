/**
 * An in-memory `SieveBackend` for transcript and socket tests, with the gateway's semantics
 * (the REST contract `/v1/sieve/*`): one active script at most, the active one not deletable,
 * names unique per account, the size and count limits, and a validator that refuses a script
 * whose `require` names an extension outside the capabilities (with its line and column), so
 * PUTSCRIPT's refusal path is exercised without the gateway's interpreter.
 */
import type {
  ChangeResult,
  CheckResult,
  LoginResult,
  PutResult,
  ScriptInfo,
  ScriptProblem,
  SieveAccount,
  SieveBackend,
  SieveCapabilities,
} from "./backend.ts";

export const MEMORY_CAPABILITIES: SieveCapabilities = {
  extensions: ["fileinto", "reject", "envelope", "imap4flags", "variables", "vacation", "copy"],
  maxRedirects: 5,
  maxScriptBytes: 65_536,
  maxScripts: 5,
};

interface Stored {
  script: string;
  active: boolean;
}

interface MemoryUser {
  password: string;
  scripts: Map<string, Stored>;
}

export class MemorySieveBackend implements SieveBackend {
  readonly users = new Map<string, MemoryUser>();
  /** Set to make every call fail as an unreachable gateway would. */
  down = false;
  logins: { username: string; clientIp: string }[] = [];

  constructor(readonly caps: SieveCapabilities = MEMORY_CAPABILITIES) {}

  addUser(address: string, password: string): void {
    this.users.set(address.toLowerCase(), { password, scripts: new Map() });
  }

  scripts(address: string): Map<string, Stored> {
    return this.users.get(address.toLowerCase())!.scripts;
  }

  capabilities(): Promise<SieveCapabilities> {
    return this.down ? Promise.reject(new Error("unreachable")) : Promise.resolve(this.caps);
  }

  login(username: string, password: string, clientIp: string): Promise<LoginResult> {
    if (this.down) return Promise.reject(new Error("unreachable"));
    this.logins.push({ username, clientIp });
    const user = this.users.get(username.toLowerCase());
    if (!user || user.password !== password) {
      return Promise.resolve({ ok: false, reason: "invalid" });
    }
    return Promise.resolve({ ok: true, account: new MemoryAccount(this, username, user) });
  }

  /** Errors for a script: each `require` of an unknown extension, where it stands. */
  validate(script: string): ScriptProblem[] {
    const problems: ScriptProblem[] = [];
    for (const [i, line] of script.split("\n").entries()) {
      for (const m of line.matchAll(/require\s+(\[[^\]]*\]|"[^"]*")/g)) {
        for (const ext of m[1].matchAll(/"([^"]*)"/g)) {
          if (!this.caps.extensions.includes(ext[1])) {
            problems.push({
              line: i + 1,
              column: (m.index ?? 0) + 1,
              reason: `unsupported extension "${ext[1]}"`,
            });
          }
        }
      }
    }
    return problems;
  }
}

class MemoryAccount implements SieveAccount {
  constructor(
    private readonly backend: MemorySieveBackend,
    readonly address: string,
    private readonly user: MemoryUser,
  ) {}

  #guard(): void {
    if (this.backend.down) throw new Error("unreachable");
  }

  list(): Promise<ScriptInfo[]> {
    this.#guard();
    return Promise.resolve(
      [...this.user.scripts].map(([name, s]) => ({
        name,
        active: s.active,
        sizeBytes: new TextEncoder().encode(s.script).byteLength,
      })),
    );
  }

  get(name: string) {
    this.#guard();
    const s = this.user.scripts.get(name);
    return Promise.resolve(s && { script: s.script, active: s.active });
  }

  put(name: string, script: string): Promise<PutResult> {
    this.#guard();
    const errors = this.backend.validate(script);
    if (errors.length > 0) return Promise.resolve({ ok: false, kind: "invalid", errors });
    if (new TextEncoder().encode(script).byteLength > this.backend.caps.maxScriptBytes) {
      return Promise.resolve({ ok: false, kind: "quota", limit: "size" });
    }
    const old = this.user.scripts.get(name);
    if (!old && this.user.scripts.size >= this.backend.caps.maxScripts) {
      return Promise.resolve({ ok: false, kind: "quota", limit: "count" });
    }
    this.user.scripts.set(name, { script, active: old?.active ?? false });
    return Promise.resolve({ ok: true, warnings: [] });
  }

  check(script: string): Promise<CheckResult> {
    this.#guard();
    const errors = this.backend.validate(script);
    return Promise.resolve(errors.length ? { ok: false, errors } : { ok: true, warnings: [] });
  }

  rename(name: string, newName: string): Promise<ChangeResult> {
    this.#guard();
    const s = this.user.scripts.get(name);
    if (!s) return Promise.resolve("nonexistent");
    if (this.user.scripts.has(newName)) return Promise.resolve("exists");
    this.user.scripts.delete(name);
    this.user.scripts.set(newName, s);
    return Promise.resolve("ok");
  }

  delete(name: string): Promise<ChangeResult> {
    this.#guard();
    const s = this.user.scripts.get(name);
    if (!s) return Promise.resolve("nonexistent");
    if (s.active) return Promise.resolve("active");
    this.user.scripts.delete(name);
    return Promise.resolve("ok");
  }

  setActive(name: string | null): Promise<ChangeResult> {
    this.#guard();
    if (name !== null && !this.user.scripts.has(name)) return Promise.resolve("nonexistent");
    for (const [n, s] of this.user.scripts) s.active = n === name;
    return Promise.resolve("ok");
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

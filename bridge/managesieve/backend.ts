/**
 * What the ManageSieve session needs from the rest of Postern: the server's Sieve capabilities
 * (the extensions and limits the gateway's interpreter has), a credential check, and one
 * account's scripts — list, get, put (validated by the gateway, which answers with each error's
 * line and reason), check, rename, delete, activate. The gateway implementation is
 * gateway_backend.ts (the REST contract `/v1/sieve/*`); tests use memory_backend.ts.
 * A backend throws when the gateway cannot be reached or fails (TRYLATER), or ScriptRefused
 * for a refusal the protocol has no response code for; every other refusal is a result.
 */

/** The gateway refused for a reason of its own (a plain NO with its text). */
export class ScriptRefused extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ScriptRefused";
  }
}

export interface SieveCapabilities {
  /** Sieve extensions (the `require` names), e.g. "fileinto", "vacation". */
  extensions: string[];
  /** Most `redirect` actions one script may perform (MAXREDIRECTS, RFC 5804 section 1.7). */
  maxRedirects: number;
  /** Largest script in octets. */
  maxScriptBytes: number;
  /** Most scripts one account may keep. */
  maxScripts: number;
  /** Notification methods of the enotify extension, if any (NOTIFY capability). */
  notify?: string[];
}

export interface ScriptInfo {
  name: string;
  active: boolean;
  sizeBytes: number;
}

/** Why the gateway refused a script: where and what (RFC 5804 wants it in the NO text). */
export interface ScriptProblem {
  line: number;
  column: number;
  reason: string;
}

export type PutResult =
  | { ok: true; warnings: string[] }
  | { ok: false; kind: "invalid"; errors: ScriptProblem[] }
  | { ok: false; kind: "quota"; limit: "size" | "count" };

export type CheckResult =
  | { ok: true; warnings: string[] }
  | { ok: false; errors: ScriptProblem[] };

export type ChangeResult = "ok" | "nonexistent" | "exists" | "active";

export interface SieveAccount {
  /** The account's address (the OWNER capability). */
  readonly address: string;
  list(): Promise<ScriptInfo[]>;
  /** Undefined when there is no such script. */
  get(name: string): Promise<{ script: string; active: boolean } | undefined>;
  put(name: string, script: string): Promise<PutResult>;
  check(script: string): Promise<CheckResult>;
  /** "nonexistent" or "exists" (the new name is taken). */
  rename(name: string, newName: string): Promise<ChangeResult>;
  /** "nonexistent" or "active" (the active script cannot be deleted, section 2.10). */
  delete(name: string): Promise<ChangeResult>;
  /** `null` deactivates; "nonexistent" when there is no such script. */
  setActive(name: string | null): Promise<ChangeResult>;
  /** Ends the account session (LOGOUT, UNAUTHENTICATE, a dropped connection). Never throws. */
  close(): Promise<void>;
}

export type LoginResult =
  | { ok: true; account: SieveAccount }
  | { ok: false; reason: "invalid" | "locked" };

export interface SieveBackend {
  /** The server's Sieve capabilities; may be cached. Throws when the gateway is unreachable. */
  capabilities(): Promise<SieveCapabilities>;
  /** Throws when the gateway cannot be reached (the client gets NO (TRYLATER)). */
  login(username: string, password: string, clientIp: string): Promise<LoginResult>;
}

/**
 * The ManageSieve backend over the gateway's Sieve API (`/v1/sieve/*`): the credential is
 * checked with the bridge key (`/v1/bridge/auth`, protocol `managesieve`, throttled as IMAP and
 * POP3 logins are), and every script command then runs with the account's own session
 * (bridge/mail_client.ts), so the gateway validates, limits and isolates exactly as for a REST
 * client. The gateway's refusals map to RFC 5804's response codes: 404 → NONEXISTENT, 409 →
 * ACTIVE or ALREADYEXISTS, 413 → QUOTA, 422 → NO with each error's line and reason.
 */
import { type FetchLike, GatewayError } from "../gateway_client.ts";
import { MailClient } from "../mail_client.ts";
import {
  type ChangeResult,
  type CheckResult,
  type LoginResult,
  type PutResult,
  type ScriptInfo,
  type ScriptProblem,
  ScriptRefused,
  type SieveAccount,
  type SieveBackend,
  type SieveCapabilities,
} from "./backend.ts";

/** How long the capabilities (the interpreter's extensions and limits) are reused. */
const CAPABILITIES_TTL_MS = 5 * 60_000;

export class GatewaySieveBackend implements SieveBackend {
  #caps?: { value: SieveCapabilities; at: number };
  #fetching?: Promise<SieveCapabilities>;

  constructor(
    private readonly baseUrl: string,
    private readonly bridgeKey: string,
    private readonly fetcher: FetchLike = (r) => fetch(r),
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The greeting lists them before anyone has logged in, so they are read with the bridge key;
   * a stale copy is used while the gateway cannot be reached.
   */
  async capabilities(): Promise<SieveCapabilities> {
    const cached = this.#caps;
    if (cached && this.now() - cached.at < CAPABILITIES_TTL_MS) return cached.value;
    this.#fetching ??= this.#fetchCapabilities().finally(() => (this.#fetching = undefined));
    try {
      return await this.#fetching;
    } catch (e) {
      if (cached) return cached.value;
      throw e;
    }
  }

  async #fetchCapabilities(): Promise<SieveCapabilities> {
    let res: Response;
    try {
      res = await this.fetcher(
        new Request(new URL("/v1/sieve/capabilities", this.baseUrl), {
          headers: { authorization: `Bearer ${this.bridgeKey}` },
        }),
      );
    } catch (e) {
      throw new GatewayError(0, "unreachable", `the gateway is unreachable: ${e}`, true);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new GatewayError(res.status, "error", "the Sieve capabilities were refused", true);
    }
    const value = await res.json() as SieveCapabilities;
    this.#caps = { value, at: this.now() };
    return value;
  }

  async login(username: string, password: string, clientIp: string): Promise<LoginResult> {
    const client = await MailClient.open({
      baseUrl: this.baseUrl,
      bridgeKey: this.bridgeKey,
      username,
      secret: password,
      clientIp,
      protocol: "managesieve",
      fetcher: this.fetcher,
    });
    if (typeof client === "string") return { ok: false, reason: client };
    return { ok: true, account: new GatewaySieveAccount(client) };
  }
}

const path = (name: string, what = "") => `/v1/sieve/scripts/${encodeURIComponent(name)}${what}`;

/** The refusal's status and code, or rethrows what is not a refusal (TRYLATER). */
function refusal(e: unknown): GatewayError {
  if (e instanceof GatewayError && !e.temporary && e.status >= 400 && e.status < 500) return e;
  throw e;
}

/** A refusal with no ManageSieve response code: a plain NO with the gateway's reason. */
function unmapped(no: GatewayError): never {
  throw new ScriptRefused(no.message);
}

function problems(e: GatewayError): ScriptProblem[] {
  const errors = e.details.errors;
  if (!Array.isArray(errors) || errors.length === 0) {
    return [{ line: 1, column: 1, reason: e.message }];
  }
  return errors.map((x) => ({
    line: Number(x?.line) || 1,
    column: Number(x?.column) || 1,
    reason: String(x?.reason ?? "invalid"),
  }));
}

class GatewaySieveAccount implements SieveAccount {
  constructor(private readonly client: MailClient) {}

  get address(): string {
    return this.client.account.address;
  }

  async list(): Promise<ScriptInfo[]> {
    const r = await this.client.requestJson<{ scripts: ScriptInfo[] }>("GET", "/v1/sieve/scripts");
    return r.scripts.map(({ name, active, sizeBytes }) => ({ name, active, sizeBytes }));
  }

  async get(name: string): Promise<{ script: string; active: boolean } | undefined> {
    try {
      const r = await this.client.requestJson<{ script: string; active: boolean }>(
        "GET",
        path(name),
      );
      return { script: r.script, active: r.active };
    } catch (e) {
      const no = refusal(e);
      if (no.status === 404) return undefined;
      unmapped(no);
    }
  }

  async put(name: string, script: string): Promise<PutResult> {
    try {
      const r = await this.client.requestJson<{ warnings?: string[] }>("PUT", path(name), {
        script,
      });
      return { ok: true, warnings: r?.warnings ?? [] };
    } catch (e) {
      const no = refusal(e);
      if (no.status === 422) return { ok: false, kind: "invalid", errors: problems(no) };
      if (no.status === 413) {
        return { ok: false, kind: "quota", limit: no.details.limit === "count" ? "count" : "size" };
      }
      unmapped(no);
    }
  }

  async check(script: string): Promise<CheckResult> {
    try {
      const r = await this.client.requestJson<{ warnings?: string[] }>(
        "POST",
        "/v1/sieve/check",
        { script },
      );
      return { ok: true, warnings: r?.warnings ?? [] };
    } catch (e) {
      const no = refusal(e);
      if (no.status === 422) return { ok: false, errors: problems(no) };
      unmapped(no);
    }
  }

  async rename(name: string, newName: string): Promise<ChangeResult> {
    return await this.#change("POST", path(name, "/rename"), { newName });
  }

  async delete(name: string): Promise<ChangeResult> {
    return await this.#change("DELETE", path(name));
  }

  async setActive(name: string | null): Promise<ChangeResult> {
    return await this.#change("PUT", "/v1/sieve/active", { name });
  }

  async #change(method: string, to: string, json?: unknown): Promise<ChangeResult> {
    try {
      await this.client.requestJson(method, to, json);
      return "ok";
    } catch (e) {
      const no = refusal(e);
      if (no.status === 404) return "nonexistent";
      if (no.code === "sieve_script_active") return "active";
      if (no.status === 409) return "exists";
      unmapped(no);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The outbound worker's calls to the gateway (schemas/bridge_outbox.ts): claim leased rows, read
 * a row's bytes, report a result, fetch a domain's DKIM keys. Same credential and transport as
 * the rest of the bridge (a `bridge`-scoped API key; `fetch` injectable for in-process use).
 */
import type {
  DkimSigningKeys,
  OutboxClaimRequest,
  OutboxClaimResponse,
  OutboxRenewRequest,
  OutboxRenewResponse,
  OutboxResultRequest,
  OutboxResultResponse,
} from "../../schemas/bridge_outbox.ts";
import { type FetchLike, GatewayError } from "../gateway_client.ts";

export class OutboxClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly fetcher: FetchLike = (r) => fetch(r),
  ) {}

  private async request(method: "GET" | "POST", path: string, json?: unknown): Promise<Response> {
    const headers = new Headers({ authorization: `Bearer ${this.apiKey}` });
    if (json !== undefined) headers.set("content-type", "application/json");
    let res: Response;
    try {
      res = await this.fetcher(
        new Request(new URL(path, this.baseUrl), {
          method,
          headers,
          body: json === undefined ? undefined : JSON.stringify(json),
        }),
      );
    } catch (e) {
      throw new GatewayError(0, "unreachable", `the gateway is unreachable: ${e}`, true);
    }
    if (res.ok) return res;
    const text = await res.text();
    let data: Record<string, unknown> = {};
    try {
      data = JSON.parse(text);
    } catch { /* not problem+json */ }
    throw new GatewayError(
      res.status,
      String(data.code ?? "error"),
      String(data.detail ?? res.statusText),
      res.status >= 500 || res.status === 429,
    );
  }

  async claim(request: OutboxClaimRequest): Promise<OutboxClaimResponse> {
    return await (await this.request("POST", "/v1/bridge/outbox/claim", request)).json();
  }

  /** Extends the lease of rows still held; answers those renewed. */
  async renew(request: OutboxRenewRequest): Promise<OutboxRenewResponse> {
    return await (await this.request("POST", "/v1/bridge/outbox/renew", request)).json();
  }

  /** The row's exact bytes; throws GatewayError 409 when the lease was lost. */
  async raw(id: number, worker: string): Promise<Uint8Array> {
    const res = await this.request(
      "GET",
      `/v1/bridge/outbox/${id}/raw?worker=${encodeURIComponent(worker)}`,
    );
    return new Uint8Array(await res.arrayBuffer());
  }

  async result(id: number, result: OutboxResultRequest): Promise<OutboxResultResponse> {
    return await (await this.request("POST", `/v1/bridge/outbox/${id}/result`, result)).json();
  }

  /** The domain's signing keys, or undefined when the domain is not served here. */
  async dkimKeys(domain: string): Promise<DkimSigningKeys | undefined> {
    try {
      const path = `/v1/bridge/dkim/${encodeURIComponent(domain)}`;
      return await (await this.request("GET", path)).json();
    } catch (e) {
      if (e instanceof GatewayError && (e.status === 404 || e.status === 422)) return undefined;
      throw e;
    }
  }
}

/**
 * The spent-stamp table kept by the gateway (schemas/bridge_sharp.ts), shared by every bridge of
 * one Postern: a stamp replayed to another bridge is refused as well. Same credential and
 * transport as the rest of the bridge (a `bridge`-scoped key; `fetch` injectable in-process).
 */
import type { SharpStampVerdict } from "../../schemas/bridge_sharp.ts";
import { type FetchLike, GatewayError } from "../gateway_client.ts";
import type { ReplayTable } from "./hashcash.ts";

export class GatewayReplayTable implements ReplayTable {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly fetcher: FetchLike = (r) => fetch(r),
  ) {}

  private async post(path: string, body: unknown): Promise<SharpStampVerdict> {
    let res: Response;
    try {
      res = await this.fetcher(
        new Request(new URL(path, this.baseUrl), {
          method: "POST",
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            "content-type": "application/json",
          },
          body: JSON.stringify(body),
        }),
      );
    } catch (e) {
      throw new GatewayError(0, "unreachable", `the gateway is unreachable: ${e}`, true);
    }
    if (!res.ok) {
      const text = await res.text();
      throw new GatewayError(res.status, "error", text.slice(0, 200), res.status >= 500);
    }
    return await res.json();
  }

  async claim(stamp: string, expiresAt: number): Promise<boolean> {
    return (await this.post("/v1/bridge/sharp/stamps", { stamp, expiresAt })).fresh;
  }
}

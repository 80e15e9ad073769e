/**
 * The bridge's only way into Postern: the gateway's HTTP API with a `bridge`-scoped API key.
 * `fetch` is injectable so that `postern serve` calls the app in-process (`app.fetch`, same
 * contract, no socket) while `postern bridge --gateway URL` goes over HTTPS.
 */
import {
  type BridgeDeliveryResponse,
  type BridgeDirect,
  type DmarcRefusal,
  type InboundEnvelope,
  joinParts,
  MAIL_MEDIA_TYPE,
  mailParts,
  type SubmissionEnvelope,
} from "../schemas/bridge.ts";

const encoder = new TextEncoder();

export type FetchLike = (request: Request) => Response | Promise<Response>;

/** The gateway answered with an error (problem+json), or could not be reached at all. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** True when retrying later may succeed (unreachable, 5xx, 429). */
    readonly temporary: boolean,
  ) {
    super(message);
    this.name = "GatewayError";
  }
}

export interface RecipientVerdict {
  accept: boolean;
  local: boolean;
  code?: string;
  temporary?: boolean;
  reason?: string;
}

/** Mail above this size goes to the in-process gateway as a stream of its parts (streamMail). */
const STREAM_MAIL_BYTES = 256 * 1024;

export interface GatewayClientOptions {
  /**
   * Hand mail in as a stream of its parts (envelope line, trace fields, message) rather than one
   * joined buffer: no copy of a large message on the way. For the in-process gateway (app.fetch,
   * or the bridge thread's tunnel), which reads the body by its Content-Length.
   */
  streamMail?: boolean;
  /**
   * The gateway's direct entry when it runs in this process (`postern serve`): the calls it
   * takes go to it as values, not as HTTP requests; the rest still go through `fetcher`.
   */
  direct?: BridgeDirect;
}

/** A hand-in's body before it is encoded: envelope, then the message in parts. */
interface MailBody {
  envelope: unknown;
  parts: Uint8Array[];
}

export class GatewayClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly fetcher: FetchLike = (r) => fetch(r),
    private readonly options: GatewayClientOptions = {},
  ) {}

  private readonly urls = new Map<string, URL>();

  private url(path: string): URL {
    let url = this.urls.get(path);
    if (!url) this.urls.set(path, url = new URL(path, this.baseUrl));
    return url;
  }

  private async call<T>(path: string, init: { json?: unknown; mail?: MailBody }): Promise<T> {
    const direct = this.options.direct;
    if (direct?.paths.has(this.url(path).pathname)) {
      return await this.callDirect<T>(direct, path, init);
    }
    const parts = init.mail
      ? mailParts(init.mail.envelope, init.mail.parts.at(-1)!, init.mail.parts.at(-2))
      : [encoder.encode(JSON.stringify(init.json))];
    const length = parts.reduce((n, p) => n + p.byteLength, 0);
    // Only a large message is worth a stream: for a small one, the stream and the gateway's
    // reading of it cost more (about 20 µs a hand-in) than joining the parts (a 5 KB copy).
    const body: BodyInit = init.mail && this.options.streamMail && length > STREAM_MAIL_BYTES
      ? new ReadableStream<Uint8Array>({
        start(controller) {
          for (const part of parts) controller.enqueue(part);
          controller.close();
        },
      })
      : (parts.length === 1 ? parts[0] : joinParts(parts)) as Uint8Array<ArrayBuffer>;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.apiKey}`,
      "content-type": init.mail ? MAIL_MEDIA_TYPE : "application/json",
      // With the length known, the gateway's body limit checks the header instead of reading
      // the body through a counting stream and building a new Request (in-process, every call).
      "content-length": String(length),
    };
    let res: Response;
    try {
      res = await this.fetcher(
        new Request(
          this.url(path).href,
          { method: "POST", headers, body, duplex: "half" } as RequestInit,
        ),
      );
    } catch (e) {
      throw new GatewayError(
        0,
        "unreachable",
        `the gateway is unreachable: ${(e as Error).message}`,
        true,
      );
    }
    const text = await res.text();
    let data: Record<string, unknown> = {};
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new GatewayError(
        res.status,
        "bad_response",
        "the gateway answered with something other than JSON",
        true,
      );
    }
    return answered<T>(res.status, data, res.statusText);
  }

  /** A call through the in-process gateway's direct entry: the same contract, no HTTP. */
  private async callDirect<T>(
    direct: BridgeDirect,
    path: string,
    init: { json?: unknown; mail?: MailBody },
  ): Promise<T> {
    let answer;
    try {
      answer = await direct.call({
        path: this.url(path).pathname,
        apiKey: this.apiKey,
        ...(init.mail ? { mail: init.mail } : { json: init.json }),
      });
    } catch (e) {
      throw new GatewayError(0, "unreachable", `the gateway failed: ${(e as Error).message}`, true);
    }
    return answered<T>(answer.status, answer.body, "error");
  }

  /** Checks a password or app password; undefined when wrong. Throws when locked (429) or down. */
  async authenticate(
    username: string,
    secret: string,
    clientIp: string,
    protocol: "smtp" | "submission" | "imap" | "pop3",
  ): Promise<{ accountId: number; address: string; apiKeyId?: number } | undefined> {
    try {
      return await this.call("/v1/bridge/auth", { json: { username, secret, clientIp, protocol } });
    } catch (e) {
      if (e instanceof GatewayError && e.status === 401) return undefined;
      throw e;
    }
  }

  /** `mx`: an MX session's client address and MAIL FROM (greylisting at the gateway). */
  async checkRecipient(
    recipient: string,
    authenticatedAs?: string,
    mx?: { clientIp: string; mailFrom: string },
  ): Promise<RecipientVerdict> {
    return await this.call("/v1/bridge/recipient", {
      json: { recipient, authenticatedAs, ...(authenticatedAs ? {} : mx) },
    });
  }

  /**
   * Hands in mail from another server. `head` (e.g. trace fields) is put before `raw` in the
   * stored message, without a separate copy.
   */
  async inbound(
    envelope: InboundEnvelope,
    raw: Uint8Array,
    head?: Uint8Array,
  ): Promise<BridgeDeliveryResponse> {
    // The head is ours, made anew for each hand-in: the gateway keys duplicates on what follows.
    const traced = head?.byteLength ? { ...envelope, traceBytes: head.byteLength } : envelope;
    return await this.call("/v1/bridge/inbound", { mail: mailBody(traced, raw, head) });
  }

  /** Counts a message refused for DMARC p=reject in its sender's aggregate report. */
  async dmarcRefusal(refusal: DmarcRefusal): Promise<void> {
    await this.call("/v1/bridge/dmarc-refusals", { json: refusal });
  }

  async submission(
    envelope: SubmissionEnvelope,
    raw: Uint8Array,
    head?: Uint8Array,
  ): Promise<BridgeDeliveryResponse> {
    return await this.call("/v1/bridge/submission", { mail: mailBody(envelope, raw, head) });
  }
}

const mailBody = (envelope: unknown, raw: Uint8Array, head?: Uint8Array): MailBody => ({
  envelope,
  parts: head?.byteLength ? [head, raw] : [raw],
});

/** The gateway's answer as the call's value, or its problem as a GatewayError. */
function answered<T>(status: number, data: Record<string, unknown>, statusText: string): T {
  if (status < 200 || status > 299) {
    throw new GatewayError(
      status,
      String(data.code ?? "error"),
      String(data.detail ?? statusText),
      status >= 500 || status === 429,
    );
  }
  return data as T;
}

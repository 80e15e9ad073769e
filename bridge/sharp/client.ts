/**
 * Postern's SHARP/1.3 sender: delivers one message to one recipient over one plain TCP
 * connection, strictly lock-step (each line is written only after the reply to the one before
 * it: the reference server refuses a HELLO and MAIL_TO sent together with "Expected HELLO").
 * HELLO → OK{protocol}, MAIL_TO with a freshly minted hashcash stamp → OK, DATA → OK,
 * EMAIL_CONTENT → OK, END_DATA → `{"type":"OK","message":"Email processed"}`, which alone counts
 * as success (as in the reference sender). An ERROR, an unexpected reply, or a connection that
 * breaks or times out ends the attempt with the step where it happened.
 */
import { createConnection, type Socket } from "node:net";
import {
  type EmailContent,
  formatCommand,
  LineSplitter,
  parseReply,
  PROTOCOL,
  type SharpCode,
  type SharpReply,
} from "./parse.ts";

export interface SharpSendRequest {
  /** IP address (or host name) and port of the receiving SHARP server. */
  host: string;
  port: number;
  /** HELLO's `server_id`: the sender, `user#domain`. */
  serverId: string;
  /** MAIL_TO's address, `user#domain` (also the stamp's resource). */
  to: string;
  /** A hashcash stamp for `to` (hashcash.ts `mintStamp`). */
  hashcash: string;
  content: EmailContent;
  /** The whole exchange's time limit (default 30 s; the reference sender allows 10 s). */
  timeoutMs?: number;
}

export type SharpSendStep = "connect" | "HELLO" | "MAIL_TO" | "DATA" | "EMAIL_CONTENT" | "END_DATA";

export type SharpSendResult =
  | { ok: true; transcript: string[] }
  | {
    ok: false;
    step: SharpSendStep;
    /** The server's ERROR code; absent for network trouble or a reply that is not SHARP. */
    code?: SharpCode;
    message: string;
    transcript: string[];
  };

/** Reads reply lines from a socket, one at a time. */
class ReplyReader {
  private readonly splitter = new LineSplitter(64 * 1024, 1024 * 1024);
  private waiter?: () => void;
  private ended = false;
  problem?: string;

  constructor(socket: Socket) {
    socket.on("data", (chunk: Uint8Array) => {
      if (this.splitter.push(chunk) === "overflow") {
        this.problem = "the server sent too much";
        socket.destroy();
      }
      this.wake();
    });
    const end = (e?: Error) => {
      if (e && !this.problem) this.problem = e.message;
      this.ended = true;
      this.wake();
    };
    socket.on("end", () => end());
    socket.on("close", () => end());
    socket.on("error", end);
  }

  private wake() {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next line, or undefined when the connection ended first. */
  async line(): Promise<string | undefined> {
    for (;;) {
      const next = this.splitter.next();
      if (next?.kind === "line") return next.line;
      if (next) {
        this.problem = "a reply line is too long";
        return undefined;
      }
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
}

/** Runs one SHARP/1.3 delivery. Never throws. */
export async function sendSharp(request: SharpSendRequest): Promise<SharpSendResult> {
  const transcript: string[] = [];
  let step: SharpSendStep = "connect";
  const socket = createConnection({ host: request.host, port: request.port });
  socket.setNoDelay(true);
  const reader = new ReplyReader(socket);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), request.timeoutMs ?? 30_000);
  });
  const fail = (message: string, code?: SharpCode): SharpSendResult => ({
    ok: false,
    step,
    ...(code ? { code } : {}),
    message,
    transcript,
  });

  const exchange = async (): Promise<SharpSendResult> => {
    const connected = await new Promise<true | string>((resolve) => {
      socket.once("connect", () => resolve(true));
      socket.once("error", (e) => resolve(e.message));
    });
    if (connected !== true) return fail(`connection failed: ${connected}`);
    const steps = [
      formatCommand({ type: "HELLO", serverId: request.serverId, protocol: PROTOCOL }),
      formatCommand({ type: "MAIL_TO", address: request.to, hashcash: request.hashcash }),
      formatCommand({ type: "DATA" }),
      formatCommand({ type: "EMAIL_CONTENT", content: request.content }),
      formatCommand({ type: "END_DATA" }),
    ];
    const names: SharpSendStep[] = ["HELLO", "MAIL_TO", "DATA", "EMAIL_CONTENT", "END_DATA"];
    for (const [i, line] of steps.entries()) {
      step = names[i];
      transcript.push(`C: ${line.trimEnd()}`);
      await new Promise<void>((resolve) => socket.write(line, () => resolve()));
      const text = await reader.line();
      if (text === undefined) {
        return fail(
          `connection closed before the reply${reader.problem ? `: ${reader.problem}` : ""}`,
        );
      }
      transcript.push(`S: ${text}`);
      const reply: SharpReply | undefined = parseReply(text);
      if (!reply) return fail(`not a SHARP reply: ${text.slice(0, 200)}`);
      if (reply.type === "ERROR") return fail(reply.message, reply.code);
      if (step === "END_DATA" && reply.message !== "Email processed") {
        return fail(`unexpected final reply: ${text.slice(0, 200)}`);
      }
    }
    return { ok: true, transcript };
  };

  try {
    const result = await Promise.race([exchange(), timedOut]);
    return result === "timeout" ? fail("timed out") : result;
  } finally {
    clearTimeout(timer);
    socket.end();
    socket.destroy();
  }
}

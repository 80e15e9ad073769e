/**
 * The SASL exchanges behind SMTP AUTH (RFC 4954 section 4): PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login), with and without an initial response, base64 challenges and
 * responses, and cancellation with "*". Turns client lines into either the next challenge or a
 * username/password pair; checking them is the backend's job. Pure: no I/O.
 */
import { Replies, type ReplySpec } from "./reply.ts";

export const MECHANISMS = ["PLAIN", "LOGIN"] as const;
export type Mechanism = typeof MECHANISMS[number];

export type SaslStep =
  /** Send `334 <challenge>` (base64, possibly empty) and pass the next line to `next`. */
  | { type: "challenge"; challenge: string }
  | { type: "credentials"; username: string; password: string }
  | { type: "error"; reply: ReplySpec };

const USERNAME = btoa("Username:"); // "VXNlcm5hbWU6"
const PASSWORD = btoa("Password:"); // "UGFzc3dvcmQ6"

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Strict base64 (RFC 4648 section 4) to UTF-8 text; undefined when either is malformed. */
export function decodeBase64Text(text: string): string | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+\/]*={0,2}$/.test(text)) return undefined;
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export function isMechanism(name: string): name is Mechanism {
  return (MECHANISMS as readonly string[]).includes(name);
}

/** One AUTH exchange; create it with `start`, feed each continuation line to `next`. */
export class SaslExchange {
  #username?: string;
  private constructor(readonly mechanism: Mechanism) {}

  static start(mechanism: Mechanism, initialResponse?: string): [SaslExchange, SaslStep] {
    const exchange = new SaslExchange(mechanism);
    if (initialResponse === undefined) {
      // RFC 4954 section 4: PLAIN sends an empty challenge; LOGIN asks for the username.
      return [exchange, { type: "challenge", challenge: mechanism === "PLAIN" ? "" : USERNAME }];
    }
    // RFC 4954 section 4: "=" stands for an empty initial response.
    return [exchange, exchange.#respond(initialResponse === "=" ? "" : initialResponse)];
  }

  /** Handles the client's response line (without CRLF). */
  next(line: string): SaslStep {
    // RFC 4954 section 4: "*" cancels the exchange, answered with 501.
    if (line === "*") return { type: "error", reply: Replies.authCancelled };
    return this.#respond(line);
  }

  #respond(base64: string): SaslStep {
    const text = decodeBase64Text(base64);
    if (text === undefined) return { type: "error", reply: Replies.badBase64 };
    if (this.mechanism === "PLAIN") return plain(text);
    if (this.#username === undefined) {
      if (text === "") return { type: "error", reply: Replies.syntax("empty username") };
      this.#username = text;
      return { type: "challenge", challenge: PASSWORD };
    }
    return { type: "credentials", username: this.#username, password: text };
  }
}

// RFC 4616 section 2: message = [authzid] NUL authcid NUL passwd. Postern has no proxy
// authorisation, so authzid must be empty or name the same user.
function plain(text: string): SaslStep {
  const parts = text.split("\0");
  if (parts.length !== 3 || parts[1] === "" || parts[2] === "") {
    return { type: "error", reply: Replies.syntax("malformed PLAIN response") };
  }
  const [authzid, username, password] = parts;
  if (authzid !== "" && authzid.toLowerCase() !== username.toLowerCase()) {
    return { type: "error", reply: Replies.authFailed };
  }
  return { type: "credentials", username, password };
}

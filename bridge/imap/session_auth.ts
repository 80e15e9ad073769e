/**
 * LOGIN (RFC 3501 section 6.2.3) and AUTHENTICATE PLAIN (section 6.2.2, RFC 4616, with the
 * SASL-IR initial response of RFC 4959). Both are refused before TLS unless the configuration
 * allows plaintext authentication (the LOGINDISABLED capability is then advertised). Failures
 * answer NO [AUTHENTICATIONFAILED]; an unreachable backend NO [UNAVAILABLE] (RFC 5530).
 */
import type { Command } from "./command.ts";
import type { ImapSession } from "./session.ts";

const MAX_AUTH_FAILURES = 5;

type Login = Extract<Command, { name: "LOGIN" }>;
type Authenticate = Extract<Command, { name: "AUTHENTICATE" }>;

async function checkCredentials(
  session: ImapSession,
  tag: string,
  username: string,
  password: string,
): Promise<void> {
  const outcome = await session.backend.authenticate(username, password, session.conn.clientIp);
  if (!outcome.ok) {
    if (outcome.temporary) {
      session.no(tag, outcome.reason ?? "authentication is unavailable now", "UNAVAILABLE");
    } else {
      session.no(tag, "authentication failed", "AUTHENTICATIONFAILED");
      // Guessing passwords on one connection ends after a few tries (the gateway also throttles).
      if (++session.authFailures >= MAX_AUTH_FAILURES) {
        session.untagged("BYE too many failed authentication attempts");
        session.act({ type: "close" });
        session.mode = "closed";
      }
    }
    return;
  }
  session.loggedIn(outcome.account);
  session.ok(tag, "logged in", `CAPABILITY ${session.capabilities()}`);
}

export async function loginCommand(session: ImapSession, tag: string, cmd: Login): Promise<void> {
  if (session.loginDisabled) {
    session.no(tag, "LOGIN is disabled before STARTTLS", "PRIVACYREQUIRED");
    return;
  }
  await checkCredentials(session, tag, cmd.user, cmd.password);
}

export async function authenticateCommand(
  session: ImapSession,
  tag: string,
  cmd: Authenticate,
): Promise<void> {
  if (cmd.mechanism !== "PLAIN") {
    session.no(tag, `unsupported mechanism ${cmd.mechanism}`, "CANNOT");
    return;
  }
  if (session.loginDisabled) {
    session.no(tag, "authentication is disabled before STARTTLS", "PRIVACYREQUIRED");
    return;
  }
  if (cmd.initial !== undefined) {
    await plain(session, tag, cmd.initial === "=" ? "" : cmd.initial);
    return;
  }
  session.pendingTag = tag;
  session.mode = "sasl";
  session.send("+ \r\n");
}

/** The client's response line to the `+ ` continuation. */
export async function saslResponse(session: ImapSession, line: string): Promise<void> {
  const tag = session.pendingTag ?? "*";
  session.mode = "command";
  session.pendingTag = undefined;
  if (line.trim() === "*") {
    session.bad(tag, "AUTHENTICATE cancelled");
    return;
  }
  await plain(session, tag, line.trim());
}

async function plain(session: ImapSession, tag: string, b64: string): Promise<void> {
  let text: string;
  try {
    const bin = atob(b64);
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(bin, (c) => c.charCodeAt(0)),
    );
  } catch {
    session.bad(tag, "the response is not valid base64");
    return;
  }
  // RFC 4616 section 2: [authzid] NUL authcid NUL passwd
  const fields = text.split("\0");
  if (fields.length !== 3 || !fields[1]) {
    session.bad(tag, "malformed PLAIN response");
    return;
  }
  const [authzid, authcid, password] = fields;
  if (authzid && authzid.toLowerCase() !== authcid.toLowerCase()) {
    session.no(tag, "acting as another user is not allowed", "AUTHORIZATIONFAILED");
    return;
  }
  await checkCredentials(session, tag, authcid, password);
}

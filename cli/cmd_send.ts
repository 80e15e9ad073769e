/**
 * `postern send`: sends one message through the HTTP API (`POST /v1/emails`), either to a
 * running server or, with `--local`, in-process through `app.request` on the configured store
 * (cli/api_client.ts).
 */
import { type Invocation, list, str, usageError, type Values } from "./args.ts";
import { flag } from "./args.ts";
import { callJson, localSession, remoteSession } from "./api_client.ts";
import { readStdin } from "./context.ts";

async function messageBody(values: Values) {
  const from = str(values, "from");
  const to = list(values, "to");
  if (!from) throw usageError("--from is required");
  if (to.length === 0) throw usageError("at least one --to is required");
  let text = str(values, "text");
  if (text === "-") text = await readStdin();
  const html = str(values, "html");
  if (text === undefined && html === undefined) throw usageError("give --text or --html");
  return {
    from,
    to,
    cc: list(values, "cc"),
    bcc: list(values, "bcc"),
    subject: str(values, "subject") ?? "",
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
  };
}

export async function sendCommand({ values }: Invocation) {
  const body = await messageBody(values);
  const session = flag(values, "local")
    ? await localSession(values, body.from)
    : await remoteSession(values, body.from);
  try {
    const result = await callJson(session, "/v1/emails", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await session.close();
  }
}

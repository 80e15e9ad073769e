/**
 * Words an operator can act on for a remote libSQL server's refusal (sqld, Turso, a Hrana
 * server): a refused token, a missing database or an unreachable host, told apart from the
 * client's error text. Shared by every host that opens a remote store (hosts/process,
 * hosts/deno_deploy); it never repeats the URL or the token.
 */

/** Why the first query failed, for an operator (no URL: the caller names the database). */
export function explainRemoteError(error: unknown): string {
  const e = error as { message?: string; cause?: { status?: number } };
  const message = String(e?.message ?? error);
  const status = e?.cause?.status ?? Number(message.match(/HTTP status (\d{3})/)?.[1]);
  if (status === 401 || status === 403) {
    return `the remote libSQL server refused the auth token (HTTP ${status}): ` +
      "check POSTERN_DATABASE_AUTH_TOKEN (or the URL's authToken parameter)";
  }
  if (status === 404) {
    return "the remote libSQL server has no such database (HTTP 404): check POSTERN_DATABASE_URL";
  }
  if (
    /fetch failed|connection refused|ECONNREFUSED|error sending request|dns|timed out/i.test(
      message,
    )
  ) {
    return `cannot reach the remote libSQL server (${message})`;
  }
  return message;
}

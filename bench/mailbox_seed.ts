/**
 * The setup the mailbox benchmarks (IMAP, POP3) share: a real `postern serve` on a temporary
 * data folder whose one account holds N messages seeded straight into the store (./seed.ts),
 * restarted on the seeded store, plus the stored bytes of those messages in UID order, so that
 * a Dovecot beside it can be given the very same mail. Setup only; nothing here is measured.
 */
import { openStore } from "../hosts/process/open_store.ts";
import { api, login, type Server, startServer } from "./lib.ts";
import { seedMessages } from "./seed.ts";

export interface SeededMailbox {
  server: Server;
  /** The seeded messages' bytes, in UID order. */
  messages: Uint8Array[];
  /** Stops the server and removes its data folder. */
  stop(): Promise<void>;
}

async function storedBytes(dbUrl: string): Promise<Uint8Array[]> {
  const store = await openStore(dbUrl);
  try {
    const rows = await store.client.execute(
      "SELECT b.data FROM messages m JOIN blobs b ON b.sha256 = m.blob_sha256 ORDER BY m.uid",
    );
    return rows.rows.map((r) => new Uint8Array(r.data as ArrayBuffer));
  } finally {
    store.client.close();
  }
}

export async function serveSeededMailbox(opts: {
  /** Temporary folder prefix, e.g. "postern-bench-imap-". */
  prefix: string;
  address: string;
  password: string;
  messages: number;
  /** The server's environment (its listeners' ports). */
  env: Record<string, string>;
}): Promise<SeededMailbox> {
  const dir = await Deno.makeTempDir({ prefix: opts.prefix });
  const dbUrl = `file:${dir}/postern.db`;
  try {
    let server = await startServer(dir, opts.env);
    const domain = opts.address.slice(opts.address.indexOf("@") + 1);
    const admin = await login(server.url, `admin@${domain}`, server.adminPassword);
    const res = await api(server.url, "POST", "/v1/admin/accounts", admin, {
      address: opts.address,
      password: opts.password,
      quotaBytes: 0,
    });
    await res.body?.cancel();
    await server.stop();
    await seedMessages(dbUrl, opts.address, opts.messages);
    const messages = await storedBytes(dbUrl);
    server = await startServer(dir, opts.env);
    return {
      server,
      messages,
      async stop() {
        await server.stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
}

/**
 * `GET /v1/admin/backup`: the whole store as a Postern backup (src/backup/format.ts), streamed
 * while the server keeps taking mail. The one way to back up a store the CLI cannot open (D1
 * and R2 behind a Worker), and usable on every host: `postern backup --gateway URL` calls it.
 * Server administrators only, with an `admin`-scoped key or a session; every backup leaves an
 * audit row. The file holds hashes and sealed secrets, never a plaintext one, but it is the
 * whole server's mail: keep it as safe as the master key.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireAuth } from "../auth/authenticate.ts";
import { requireScope } from "../auth/auth_context.ts";
import { dumpBackup } from "../backup/dump.ts";
import { libsqlSnapshot, type SnapshotReader, statementSnapshot } from "../backup/snapshot.ts";
import type { Deps } from "../deps.ts";
import { bearer, newRouter, problems } from "../http/router.ts";
import { adminReach, requireSiteAdmin } from "../services/admin_reach.ts";
import { audit } from "../services/audit.ts";

/** The store's own read transaction, or paged statements on D1 (no transaction there). */
function defaultSnapshot(deps: Deps): Promise<SnapshotReader> {
  const client = deps.store.unserializedClient;
  return client.protocol === "d1"
    ? Promise.resolve(statementSnapshot(client))
    : libsqlSnapshot(client, client.protocol === "file" ? "file" : "libsql");
}

export function backupRoutes(deps: Deps, posternVersion: string) {
  const app = newRouter();
  app.use("/admin/backup", requireAuth(deps));
  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/backup",
      operationId: "getBackup",
      tags: ["admin"],
      summary: "A backup of the whole server, streamed (a tar; docs/backup.md)",
      description: "Server administrators only (an API key needs the `admin` scope and no " +
        "domain restriction). Streams a ustar file: every table's rows in parts, bodies kept " +
        "in the object store (R2), and `manifest.json` last with every part's SHA-256 and a " +
        "key check sealed with the master key. Consistency: one read transaction on the " +
        "embedded file and on remote libSQL; on D1 each page is one statement (no point-in-" +
        "time image; the manifest's `consistency` says so). `postern restore` reads it.",
      security: bearer,
      responses: {
        200: {
          description: "The backup",
          content: { "application/x-tar": { schema: z.string().meta({ format: "binary" }) } },
        },
        ...problems(401, 403),
      },
    }),
    async (c) => {
      const auth = c.get("auth");
      requireScope(auth, "admin");
      requireSiteAdmin(await adminReach(deps.store.db, auth));
      const reader = await (deps.backupSnapshot ?? (() => defaultSnapshot(deps)))();
      const now = deps.clock.now();
      await audit(deps.store.db, {
        actorAccountId: auth.accountId,
        action: "backup.create",
        target: "store",
        data: { engine: reader.engine },
        ip: c.get("clientIp"),
      });
      const body = dumpBackup({
        reader,
        objects: deps.store.objects,
        secrets: deps.secrets,
        posternVersion,
        now: () => deps.clock.now(),
      });
      const stamp = new Date(now).toISOString().replace(/[:.]/g, "-");
      return c.body(body, 200, {
        "content-type": "application/x-tar",
        "content-disposition": `attachment; filename="postern-backup-${stamp}.tar"`,
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      });
    },
  );
  return app;
}

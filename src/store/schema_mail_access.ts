/**
 * Tables of the mailbox-access API (IMAP/POP3 through the bridge): the MIME structure of each
 * stored blob (schemas/mime_structure.ts), computed on first request and kept, so BODYSTRUCTURE,
 * ENVELOPE and BODY[section] never re-parse a message. Keyed by the blob's SHA-256 like `blobs`;
 * `version` lets a parser change recompute old rows.
 */
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const mimeStructures = sqliteTable("mime_structures", {
  sha256: text("sha256").primaryKey(),
  version: integer("version").notNull(),
  /** The MimeStructure as JSON. */
  json: text("json").notNull(),
});

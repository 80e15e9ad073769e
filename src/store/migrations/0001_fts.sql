-- Full-text index over messages (SQLite FTS5). rowid is messages.id; the gateway writes and
-- deletes rows with the message so that search never shows a purged message.
CREATE VIRTUAL TABLE `messages_fts` USING fts5(
  `subject`, `from_text`, `to_text`, `body`,
  tokenize = 'unicode61 remove_diacritics 2'
);

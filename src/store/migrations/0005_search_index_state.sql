CREATE TABLE `search_index_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`indexed_through` integer NOT NULL
);
--> statement-breakpoint
-- Messages stored before this migration are already in messages_fts.
INSERT INTO `search_index_state` (`id`, `indexed_through`) SELECT 1, coalesce(max(`id`), 0) FROM `messages`;

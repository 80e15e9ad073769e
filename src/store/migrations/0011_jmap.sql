CREATE TABLE `jmap_changes` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`type` text NOT NULL,
	`object_id` integer NOT NULL,
	`op` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `jmap_changes_account_type` ON `jmap_changes` (`account_id`,`type`,`seq`);--> statement-breakpoint
CREATE TABLE `jmap_submissions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`identity_id` text NOT NULL,
	`email_id` integer NOT NULL,
	`thread_id` integer NOT NULL,
	`blob_sha256` text NOT NULL,
	`envelope` text NOT NULL,
	`send_at` integer NOT NULL,
	`undo_status` text DEFAULT 'final' NOT NULL,
	`delivery_status` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE INDEX `jmap_submissions_account` ON `jmap_submissions` (`account_id`,`id`);
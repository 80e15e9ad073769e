CREATE TABLE `mailbox_retention` (
	`mailbox_id` integer PRIMARY KEY NOT NULL,
	`days` integer,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`mailbox_id`) REFERENCES `mailboxes`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `recoverable_messages` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`mailbox_id` integer,
	`mailbox_name` text NOT NULL,
	`message_id` integer NOT NULL,
	`blob_sha256` text NOT NULL,
	`size` integer NOT NULL,
	`subject` text DEFAULT '' NOT NULL,
	`from_address` text DEFAULT '' NOT NULL,
	`internal_date` integer NOT NULL,
	`seen` integer DEFAULT false NOT NULL,
	`flagged` integer DEFAULT false NOT NULL,
	`answered` integer DEFAULT false NOT NULL,
	`draft` integer DEFAULT false NOT NULL,
	`keywords` text DEFAULT '[]' NOT NULL,
	`deleted_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`mailbox_id`) REFERENCES `mailboxes`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `recoverable_account` ON `recoverable_messages` (`account_id`,`deleted_at`);--> statement-breakpoint
CREATE INDEX `recoverable_deleted` ON `recoverable_messages` (`deleted_at`);--> statement-breakpoint
CREATE INDEX `recoverable_blob` ON `recoverable_messages` (`blob_sha256`);--> statement-breakpoint
CREATE TABLE `retention_marks` (
	`mailbox_id` integer NOT NULL,
	`at` integer NOT NULL,
	`uid_next` integer NOT NULL,
	PRIMARY KEY(`mailbox_id`, `at`),
	FOREIGN KEY (`mailbox_id`) REFERENCES `mailboxes`(`id`) ON UPDATE no action ON DELETE cascade
);

CREATE TABLE `spam_correspondents` (
	`account_id` integer NOT NULL,
	`address` text NOT NULL,
	`last_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `address`)
);
--> statement-breakpoint
CREATE TABLE `spam_greylist` (
	`key` text PRIMARY KEY NOT NULL,
	`first_seen` integer NOT NULL,
	`passed_at` integer,
	`passes` integer DEFAULT 0 NOT NULL,
	`last_seen` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `spam_learned` (
	`account_id` integer NOT NULL,
	`blob_sha256` text NOT NULL,
	`label` text NOT NULL,
	PRIMARY KEY(`account_id`, `blob_sha256`)
);
--> statement-breakpoint
CREATE TABLE `spam_rates` (
	`key` text PRIMARY KEY NOT NULL,
	`window_start` integer NOT NULL,
	`count` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `spam_settings` (
	`scope` text PRIMARY KEY NOT NULL,
	`junk_score` real,
	`reject_score` real,
	`enabled` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `spam_stats` (
	`account_id` integer PRIMARY KEY NOT NULL,
	`nspam` integer DEFAULT 0 NOT NULL,
	`nham` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `spam_tokens` (
	`account_id` integer NOT NULL,
	`token` text NOT NULL,
	`spam` integer DEFAULT 0 NOT NULL,
	`ham` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`account_id`, `token`)
);
--> statement-breakpoint
CREATE TABLE `spam_training` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`message_id` integer NOT NULL,
	`label` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `spam_training_account` ON `spam_training` (`account_id`,`id`);
CREATE TABLE `sieve_managed` (
	`account_id` integer PRIMARY KEY NOT NULL,
	`rules` text DEFAULT '[]' NOT NULL,
	`vacation` text,
	`script` text DEFAULT '' NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sieve_scripts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`name` text NOT NULL,
	`script` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`active` integer DEFAULT false NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sieve_scripts_account_name` ON `sieve_scripts` (`account_id`,`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `sieve_scripts_one_active` ON `sieve_scripts` (`account_id`) WHERE active = 1;--> statement-breakpoint
CREATE TABLE `sieve_vacation_replies` (
	`account_id` integer NOT NULL,
	`handle` text NOT NULL,
	`sender` text NOT NULL,
	`sent_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `handle`, `sender`)
);
--> statement-breakpoint
CREATE INDEX `sieve_vacation_replies_sent` ON `sieve_vacation_replies` (`sent_at`);
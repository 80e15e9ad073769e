CREATE TABLE `crypt_keks` (
	`version` integer PRIMARY KEY NOT NULL,
	`salt` blob NOT NULL,
	`check_value` blob NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `crypt_keys` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`kek_version` integer NOT NULL,
	`wrapped` blob NOT NULL,
	`created_at` integer NOT NULL,
	`retired_at` integer
);
--> statement-breakpoint
CREATE INDEX `crypt_keys_account` ON `crypt_keys` (`account_id`,`retired_at`);
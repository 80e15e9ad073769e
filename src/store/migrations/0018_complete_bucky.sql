CREATE TABLE `account_forwarding` (
	`account_id` integer PRIMARY KEY NOT NULL,
	`targets` text NOT NULL,
	`keep_copy` integer DEFAULT true NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `dmarc_counts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`day` integer NOT NULL,
	`header_from` text NOT NULL,
	`row_key` text NOT NULL,
	`count` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dmarc_counts_row` ON `dmarc_counts` (`day`,`header_from`,`row_key`);--> statement-breakpoint
CREATE TABLE `outbox_seals` (
	`outbox_id` integer PRIMARY KEY NOT NULL,
	`domain` text NOT NULL,
	`auth_results` text NOT NULL,
	`cv` text NOT NULL,
	FOREIGN KEY (`outbox_id`) REFERENCES `outbox`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `received_reports` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`domain` text NOT NULL,
	`org_name` text NOT NULL,
	`report_id` text NOT NULL,
	`begin` integer NOT NULL,
	`end` integer NOT NULL,
	`data` text NOT NULL,
	`total` integer NOT NULL,
	`failed` integer NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `received_reports_id` ON `received_reports` (`kind`,`org_name`,`report_id`);--> statement-breakpoint
CREATE INDEX `received_reports_domain` ON `received_reports` (`kind`,`domain`,`begin`);--> statement-breakpoint
CREATE TABLE `tls_counts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`day` integer NOT NULL,
	`policy_domain` text NOT NULL,
	`row_key` text NOT NULL,
	`count` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tls_counts_row` ON `tls_counts` (`day`,`policy_domain`,`row_key`);
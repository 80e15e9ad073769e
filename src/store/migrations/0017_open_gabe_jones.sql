CREATE TABLE `dmarc_counts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`day` integer NOT NULL,
	`header_from` text NOT NULL,
	`row_key` text NOT NULL,
	`count` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `dmarc_counts_row` ON `dmarc_counts` (`day`,`header_from`,`row_key`);--> statement-breakpoint
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
CREATE INDEX `received_reports_domain` ON `received_reports` (`kind`,`domain`,`begin`);
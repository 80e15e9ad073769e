CREATE TABLE `tls_counts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`day` integer NOT NULL,
	`policy_domain` text NOT NULL,
	`row_key` text NOT NULL,
	`count` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tls_counts_row` ON `tls_counts` (`day`,`policy_domain`,`row_key`);
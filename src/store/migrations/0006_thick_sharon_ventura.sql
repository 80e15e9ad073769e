ALTER TABLE `tx_suppressions` ADD `code` text;--> statement-breakpoint
ALTER TABLE `tx_suppressions` ADD `stage` text;
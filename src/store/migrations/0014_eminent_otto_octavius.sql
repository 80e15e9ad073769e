ALTER TABLE `messages` ADD `draft_sha256` text;--> statement-breakpoint
CREATE INDEX `messages_draft_blob` ON `messages` (`draft_sha256`) WHERE "messages"."draft_sha256" IS NOT NULL;--> statement-breakpoint
ALTER TABLE `tx_webhook_deliveries` ADD `raw_sha256` text;--> statement-breakpoint
CREATE INDEX `tx_webhook_deliveries_raw` ON `tx_webhook_deliveries` (`raw_sha256`) WHERE "tx_webhook_deliveries"."raw_sha256" IS NOT NULL;
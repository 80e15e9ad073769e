CREATE TABLE `federation_keys` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`domain_id` integer NOT NULL,
	`kid` text NOT NULL,
	`private_jwk` text NOT NULL,
	`public_jwk` text NOT NULL,
	`retired_at` integer,
	`expires_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`domain_id`) REFERENCES `domains`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `federation_keys_kid_unique` ON `federation_keys` (`kid`);--> statement-breakpoint
CREATE INDEX `federation_keys_domain` ON `federation_keys` (`domain_id`);--> statement-breakpoint
CREATE TABLE `federation_nonces` (
	`issuer` text NOT NULL,
	`nonce` text NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`issuer`, `nonce`)
);
--> statement-breakpoint
CREATE INDEX `federation_nonces_expiry` ON `federation_nonces` (`expires_at`);--> statement-breakpoint
CREATE TABLE `federation_peers` (
	`domain` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`document` text,
	`detail` text,
	`fetched_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `federation_receipts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`domain` text NOT NULL,
	`blob_sha256` text NOT NULL,
	`message_id_header` text,
	`outbox_ids` text NOT NULL,
	`receipt` text NOT NULL,
	`results` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `federation_receipts_blob` ON `federation_receipts` (`blob_sha256`);--> statement-breakpoint
CREATE TABLE `federation_senders` (
	`domain` text PRIMARY KEY NOT NULL,
	`window_start` integer NOT NULL,
	`window_count` integer NOT NULL,
	`accepted` integer DEFAULT 0 NOT NULL,
	`first_seen` integer NOT NULL,
	`last_seen` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `mime_structures` (
	`sha256` text PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`json` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sharp_stamps` (
	`stamp` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sharp_stamps_expiry` ON `sharp_stamps` (`expires_at`);--> statement-breakpoint
CREATE TABLE `tx_domain_settings` (
	`domain` text PRIMARY KEY NOT NULL,
	`track_opens` integer DEFAULT false NOT NULL,
	`track_clicks` integer DEFAULT false NOT NULL,
	`verp` integer DEFAULT false NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tx_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`message_id` text NOT NULL,
	`recipient` text,
	`type` text NOT NULL,
	`domain` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tx_events_message` ON `tx_events` (`message_id`,`id`);--> statement-breakpoint
CREATE INDEX `tx_events_account_time` ON `tx_events` (`account_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `tx_idempotency` (
	`account_id` integer NOT NULL,
	`key` text NOT NULL,
	`scope` text NOT NULL,
	`request_hash` text NOT NULL,
	`status` integer NOT NULL,
	`response` text NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `scope`, `key`)
);
--> statement-breakpoint
CREATE TABLE `tx_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` integer NOT NULL,
	`domain` text NOT NULL,
	`from_address` text NOT NULL,
	`subject` text DEFAULT '' NOT NULL,
	`sent_ref` integer,
	`message_id_header` text NOT NULL,
	`tags` text DEFAULT '[]' NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`send_at` integer,
	`state` text NOT NULL,
	`template` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tx_messages_account` ON `tx_messages` (`account_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tx_messages_sent_ref` ON `tx_messages` (`sent_ref`);--> statement-breakpoint
CREATE TABLE `tx_recipients` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text NOT NULL,
	`address` text NOT NULL,
	`status` text NOT NULL,
	`outbox_id` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tx_recipients_message_address` ON `tx_recipients` (`message_id`,`address`);--> statement-breakpoint
CREATE INDEX `tx_recipients_outbox` ON `tx_recipients` (`outbox_id`);--> statement-breakpoint
CREATE TABLE `tx_suppressions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`domain` text NOT NULL,
	`address` text NOT NULL,
	`reason` text NOT NULL,
	`detail` text DEFAULT '' NOT NULL,
	`message_id` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tx_suppressions_domain_address` ON `tx_suppressions` (`domain`,`address`);--> statement-breakpoint
CREATE TABLE `tx_templates` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`name` text NOT NULL,
	`version` integer NOT NULL,
	`subject` text DEFAULT '' NOT NULL,
	`text` text,
	`html` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tx_templates_name_version` ON `tx_templates` (`account_id`,`name`,`version`);--> statement-breakpoint
CREATE TABLE `tx_webhook_deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`webhook_id` integer NOT NULL,
	`event_id` text NOT NULL,
	`event_type` text NOT NULL,
	`payload` text NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`lease_until` integer,
	`last_status` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tx_webhook_deliveries_due` ON `tx_webhook_deliveries` (`state`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `tx_webhook_deliveries_hook` ON `tx_webhook_deliveries` (`webhook_id`,`id`);--> statement-breakpoint
CREATE TABLE `tx_webhooks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`url` text NOT NULL,
	`events` text DEFAULT '[]' NOT NULL,
	`secret` text NOT NULL,
	`previous_secret` text,
	`previous_until` integer,
	`include_raw` integer DEFAULT false NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`inbound_cursor` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tx_webhooks_account` ON `tx_webhooks` (`account_id`);--> statement-breakpoint
CREATE INDEX `messages_mailbox_uid_flags` ON `messages` (`mailbox_id`,`uid`,`modseq`,`internal_date`,`size`,`seen`,`answered`,`flagged`,`deleted`,`draft`,`keywords`);
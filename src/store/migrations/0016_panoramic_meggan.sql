CREATE TABLE `account_forwarding` (
	`account_id` integer PRIMARY KEY NOT NULL,
	`targets` text NOT NULL,
	`keep_copy` integer DEFAULT true NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `outbox_seals` (
	`outbox_id` integer PRIMARY KEY NOT NULL,
	`domain` text NOT NULL,
	`auth_results` text NOT NULL,
	`cv` text NOT NULL,
	FOREIGN KEY (`outbox_id`) REFERENCES `outbox`(`id`) ON UPDATE no action ON DELETE cascade
);

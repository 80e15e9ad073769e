CREATE TABLE `jmap_identities` (
	`account_id` integer NOT NULL,
	`identity_id` text NOT NULL,
	`name` text,
	`reply_to` text,
	`bcc` text,
	`text_signature` text DEFAULT '' NOT NULL,
	`html_signature` text DEFAULT '' NOT NULL,
	PRIMARY KEY(`account_id`, `identity_id`)
);

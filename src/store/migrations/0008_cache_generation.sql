CREATE TABLE `cache_generation` (
	`id` integer PRIMARY KEY NOT NULL,
	`generation` integer NOT NULL
);
--> statement-breakpoint
-- The counter's one row, and the triggers that bump it in the same statement as every change to
-- a row the read caches hold, whoever writes it (a server, the CLI, another node). Columns that
-- change on every delivery (accounts.used_bytes, mailboxes.uid_next and highest_modseq,
-- api_keys.last_used_at) do not bump it: the caches do not hold them.
INSERT INTO `cache_generation` (`id`, `generation`) VALUES (1, 0);
--> statement-breakpoint
CREATE TRIGGER `domains_insert_cache_generation` AFTER INSERT ON `domains`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `domains_update_cache_generation` AFTER UPDATE ON `domains`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `domains_delete_cache_generation` AFTER DELETE ON `domains`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `accounts_insert_cache_generation` AFTER INSERT ON `accounts`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `accounts_update_cache_generation` AFTER UPDATE OF `domain_id`, `address`, `address_key`, `role`, `disabled` ON `accounts`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `accounts_delete_cache_generation` AFTER DELETE ON `accounts`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `aliases_insert_cache_generation` AFTER INSERT ON `aliases`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `aliases_update_cache_generation` AFTER UPDATE ON `aliases`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `aliases_delete_cache_generation` AFTER DELETE ON `aliases`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `api_keys_insert_cache_generation` AFTER INSERT ON `api_keys`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `api_keys_update_cache_generation` AFTER UPDATE OF `account_id`, `key_hash`, `scopes`, `domains`, `revoked_at` ON `api_keys`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `api_keys_delete_cache_generation` AFTER DELETE ON `api_keys`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `mailboxes_insert_cache_generation` AFTER INSERT ON `mailboxes`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `mailboxes_update_cache_generation` AFTER UPDATE OF `account_id`, `role` ON `mailboxes`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `mailboxes_delete_cache_generation` AFTER DELETE ON `mailboxes`
BEGIN
	UPDATE `cache_generation` SET `generation` = `generation` + 1 WHERE `id` = 1;
END;

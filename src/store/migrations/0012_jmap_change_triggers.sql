-- JMAP change log (src/store/schema_jmap.ts): every change to messages, threads, mailboxes and
-- submissions logs a row in the same statement, whoever writes it (delivery, IMAP, REST, JMAP,
-- another process), so Email/changes after an IMAP STORE is as exact as after Email/set.
-- op: 0 created, 1 updated, 2 destroyed, 3 a Mailbox's counts changed (nothing else about it).
CREATE TRIGGER `messages_insert_jmap` AFTER INSERT ON `messages`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES
		(new.`account_id`, 'Email', new.`id`, 0),
		(new.`account_id`, 'Thread', new.`thread_id`, 1),
		(new.`account_id`, 'Mailbox', new.`mailbox_id`, 3);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_update_jmap` AFTER UPDATE OF `mailbox_id`, `thread_id`, `seen`, `flagged`, `answered`, `draft`, `deleted`, `keywords` ON `messages`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES
		(new.`account_id`, 'Email', new.`id`, 1);
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`)
		SELECT new.`account_id`, 'Mailbox', new.`mailbox_id`, 3
		WHERE old.`mailbox_id` <> new.`mailbox_id` OR old.`seen` <> new.`seen`;
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`)
		SELECT new.`account_id`, 'Mailbox', old.`mailbox_id`, 3 WHERE old.`mailbox_id` <> new.`mailbox_id`;
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`)
		SELECT new.`account_id`, 'Thread', t.`id`, 1 FROM (SELECT old.`thread_id` AS `id` UNION SELECT new.`thread_id`) t
		WHERE old.`thread_id` <> new.`thread_id` OR old.`mailbox_id` <> new.`mailbox_id`;
END;
--> statement-breakpoint
CREATE TRIGGER `messages_delete_jmap` AFTER DELETE ON `messages`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES
		(old.`account_id`, 'Email', old.`id`, 2),
		(old.`account_id`, 'Thread', old.`thread_id`, 1),
		(old.`account_id`, 'Mailbox', old.`mailbox_id`, 3);
END;
--> statement-breakpoint
CREATE TRIGGER `threads_insert_jmap` AFTER INSERT ON `threads`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (new.`account_id`, 'Thread', new.`id`, 0);
END;
--> statement-breakpoint
CREATE TRIGGER `threads_delete_jmap` AFTER DELETE ON `threads`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (old.`account_id`, 'Thread', old.`id`, 2);
END;
--> statement-breakpoint
CREATE TRIGGER `mailboxes_insert_jmap` AFTER INSERT ON `mailboxes`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (new.`account_id`, 'Mailbox', new.`id`, 0);
END;
--> statement-breakpoint
CREATE TRIGGER `mailboxes_update_jmap` AFTER UPDATE OF `name`, `role`, `subscribed` ON `mailboxes`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (new.`account_id`, 'Mailbox', new.`id`, 1);
END;
--> statement-breakpoint
CREATE TRIGGER `mailboxes_delete_jmap` AFTER DELETE ON `mailboxes`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (old.`account_id`, 'Mailbox', old.`id`, 2);
END;
--> statement-breakpoint
CREATE TRIGGER `jmap_submissions_insert_jmap` AFTER INSERT ON `jmap_submissions`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (new.`account_id`, 'EmailSubmission', new.`id`, 0);
END;
--> statement-breakpoint
CREATE TRIGGER `jmap_submissions_update_jmap` AFTER UPDATE ON `jmap_submissions`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (new.`account_id`, 'EmailSubmission', new.`id`, 1);
END;
--> statement-breakpoint
CREATE TRIGGER `jmap_submissions_delete_jmap` AFTER DELETE ON `jmap_submissions`
BEGIN
	INSERT INTO `jmap_changes` (`account_id`, `type`, `object_id`, `op`) VALUES (old.`account_id`, 'EmailSubmission', old.`id`, 2);
END;

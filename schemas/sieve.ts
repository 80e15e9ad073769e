/**
 * The Sieve scripts API contract (`/v1/sieve/*`): what the REST routes answer and what the
 * bridge's ManageSieve server (RFC 5804) reads, so both halves share one definition.
 */
import { z } from "zod";
import { Problem } from "./problem.ts";

export const SieveCapabilities = z.object({
  extensions: z.array(z.string()).meta({
    description: "Sieve extensions the interpreter implements (ManageSieve `SIEVE` capability).",
  }),
  maxRedirects: z.number().int().meta({
    description: "Most `redirect` actions one run takes (ManageSieve `MAXREDIRECTS`).",
  }),
  maxScriptBytes: z.number().int().meta({ description: "Largest script an account may store." }),
  maxScripts: z.number().int().meta({ description: "Most scripts one account may store." }),
}).meta({ id: "SieveCapabilities" });

export const SieveScriptSummary = z.object({
  name: z.string().meta({ description: "The script's name (RFC 5804 section 1.6)." }),
  active: z.boolean().meta({ description: "The script that runs at delivery (at most one)." }),
  sizeBytes: z.number().int().meta({ description: "Size of the script text in UTF-8 bytes." }),
  updatedAt: z.string().meta({ description: "Last change (ISO 8601)." }),
}).meta({ id: "SieveScriptSummary" });

export const SieveScript = z.object({
  name: z.string().meta({ description: "The script's name." }),
  active: z.boolean().meta({ description: "Whether this is the active script." }),
  script: z.string().meta({ description: "The script text (RFC 5228)." }),
}).meta({ id: "SieveScript" });

export const SieveScriptBody = z.object({
  script: z.string().meta({ description: "The script text (RFC 5228), UTF-8." }),
}).meta({ id: "SieveScriptBody" });

export const SieveError = z.object({
  line: z.number().int().meta({ description: "1-based line of the problem." }),
  column: z.number().int().meta({ description: "1-based column of the problem." }),
  reason: z.string().meta({ description: "What is wrong there." }),
}).meta({ id: "SieveError" });

export const SieveProblem = Problem.extend({
  errors: z.array(SieveError).optional().meta({
    description: "`sieve_invalid`: every problem of the script, with its position.",
  }),
  limit: z.enum(["size", "count"]).optional().meta({
    description: "`sieve_quota`: which limit the script would break.",
  }),
}).meta({ id: "SieveProblem", description: "RFC 9457 problem details of a refused script." });

export type SieveCapabilities = z.infer<typeof SieveCapabilities>;
export type SieveScriptSummary = z.infer<typeof SieveScriptSummary>;
export type SieveScript = z.infer<typeof SieveScript>;
export type SieveProblem = z.infer<typeof SieveProblem>;

/** One condition of a simple rule (compiled to a Sieve test, src/sieve/compile_rules.ts). */
export const SieveRuleCondition = z.object({
  field: z.enum(["from", "to", "subject", "header", "size", "spam"]).meta({
    description: "`from`: the From address; `to`: To and Cc addresses; `subject`; `header`: the " +
      "field named in `header`; `size`: the message size in bytes; `spam`: the spam verdict " +
      "(X-Spam-Flag, or X-Spam-Score with `over`).",
  }),
  header: z.string().min(1).max(200).regex(/^[\x21-\x39\x3b-\x7e]+$/).optional().meta({
    description: "The header field name, for `field: header`.",
  }),
  op: z.enum(["contains", "not_contains", "is", "not_is", "matches", "exists", "over", "under"])
    .meta({
      description: "How to compare: `contains`, `is`, `matches` (wildcards `*` and `?`) and " +
        "their negations for text (ASCII case-insensitive); `over`/`under` for `size` (bytes) and " +
        "`spam` (score); `exists` for `header`; `is` for `spam` (flagged as spam).",
    }),
  value: z.union([z.string().max(1000), z.number().int().min(0)]).optional().meta({
    description: "What to compare with (a number for `over`/`under`).",
  }),
}).meta({ id: "SieveRuleCondition" });

export const SieveRuleAction = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("fileinto").meta({ description: "File the message into a mailbox." }),
    mailbox: z.string().min(1).max(500).meta({ description: "The mailbox's name." }),
  }),
  z.object({
    type: z.literal("flag").meta({ description: "Set a flag on the kept copies." }),
    flag: z.string().min(1).max(100).regex(/^\\?[\x21-\x7e]+$/).meta({
      description: "`\\\\Seen`, `\\\\Flagged` or a keyword, set on the copies this rule keeps.",
    }),
  }),
  z.object({
    type: z.literal("redirect").meta({ description: "Forward the message." }),
    address: z.string().email().meta({ description: "Where to forward the message." }),
    copy: z.boolean().optional().meta({ description: "Keep a copy here too (RFC 3894)." }),
  }),
  z.object({ type: z.literal("discard").meta({ description: "Drop the message silently." }) }),
  z.object({
    type: z.literal("reject").meta({ description: "Refuse the message (RFC 5429)." }),
    reason: z.string().min(1).max(1000).meta({ description: "Told to the sender." }),
  }),
  z.object({ type: z.literal("stop").meta({ description: "End filtering for this message." }) }),
]).meta({
  id: "SieveRuleAction",
  description: "What a matching rule does; `stop` ends filtering (your own script too).",
});

export const SieveRule = z.object({
  name: z.string().max(200).optional().meta({ description: "A label for people." }),
  enabled: z.boolean().default(true).meta({ description: "Disabled rules are kept, not run." }),
  match: z.enum(["all", "any"]).default("all").meta({
    description: "Whether every condition (`all`) or one (`any`) must hold.",
  }),
  conditions: z.array(SieveRuleCondition).max(50).meta({
    description: "None: the rule applies to every message.",
  }),
  actions: z.array(SieveRuleAction).min(1).max(20).meta({ description: "In order." }),
}).meta({ id: "SieveRule" });

export const SieveRules = z.object({
  rules: z.array(SieveRule).max(200).meta({ description: "Run in order, before your script." }),
}).meta({ id: "SieveRules" });

export const SieveVacation = z.object({
  enabled: z.boolean().meta({ description: "Whether replies are sent." }),
  subject: z.string().max(500).optional().meta({
    description: "The reply's subject; default `Auto: ` and the original subject.",
  }),
  body: z.string().max(20_000).meta({ description: "The reply's text." }),
  from: z.string().datetime({ offset: true }).nullable().optional().meta({
    description: "Start replying at this time (ISO 8601); none: now.",
  }),
  until: z.string().datetime({ offset: true }).nullable().optional().meta({
    description: "Stop replying at this time (ISO 8601); none: until disabled.",
  }),
  days: z.number().int().min(1).max(365).default(7).meta({
    description: "Answer each sender at most once in this many days (RFC 5230 `:days`).",
  }),
  addresses: z.array(z.string().email()).max(50).default([]).meta({
    description: "Other addresses of yours that mail to you may be sent to (RFC 5230 " +
      "`:addresses`); mail naming none of your addresses in To/Cc is not answered.",
  }),
}).meta({ id: "SieveVacation" });

export type SieveRuleCondition = z.infer<typeof SieveRuleCondition>;
export type SieveRuleAction = z.infer<typeof SieveRuleAction>;
export type SieveRule = z.infer<typeof SieveRule>;
export type SieveVacation = z.infer<typeof SieveVacation>;

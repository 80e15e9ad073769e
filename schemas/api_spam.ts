/**
 * The spam filter's REST contract (issue 21 item 1): a message's verdict as shown in its JSON
 * form, and the thresholds a user sets for their account and an administrator for a domain.
 */
import { z } from "zod";

export const SpamTestResult = z.object({
  name: z.string().meta({ description: "The rule's stable name (e.g. `BAYES_99`, `SPF_FAIL`)." }),
  score: z.number().meta({ description: "What it added to the score." }),
  detail: z.string().optional().meta({ description: "Why it fired (a host, a probability…)." }),
}).meta({ id: "SpamTestResult" });

export const SpamVerdict = z.object({
  score: z.number().meta({ description: "The sum of the rules' scores." }),
  action: z.enum(["deliver", "junk", "reject"]).meta({
    description: "What the thresholds made of it (a refused message is never stored).",
  }),
  spam: z.boolean().meta({ description: "Whether the score reached the Junk threshold." }),
  required: z.number().meta({ description: "The Junk threshold in force." }),
  tests: z.array(SpamTestResult).meta({ description: "The rules that fired." }),
  bayes: z.number().optional().meta({
    description: "The account's classifier's spam probability, once it is trained.",
  }),
}).meta({ id: "SpamVerdict" });

const threshold = z.number().min(-100).max(1000).nullable();

export const SpamSettingsChange = z.object({
  enabled: z.boolean().nullable().optional().meta({
    description: "false: no spam verdict (mail is delivered unscored); null: inherit.",
  }),
  junkScore: threshold.optional().meta({
    description: "Score at or above which mail goes to Junk; null: inherit.",
  }),
  rejectScore: threshold.optional().meta({
    description: "Score at or above which mail is refused at DATA; must be above the Junk " +
      "threshold in force; null: inherit.",
  }),
}).strict().meta({ id: "SpamSettingsChange" });

export const SpamSettings = z.object({
  own: z.object({
    enabled: z.boolean().nullable().meta({ description: "Set here, or null (inherited)." }),
    junkScore: z.number().nullable().meta({ description: "Set here, or null (inherited)." }),
    rejectScore: z.number().nullable().meta({ description: "Set here, or null (inherited)." }),
  }).meta({ description: "What this scope sets itself (null: inherited)." }),
  effective: z.object({
    enabled: z.boolean().meta({ description: "Whether mail is scored." }),
    junkScore: z.number().meta({ description: "The Junk threshold in force." }),
    rejectScore: z.number().meta({ description: "The refusal threshold in force." }),
  }).meta({
    description: "What applies: the account's own, else its domain's, else the server's.",
  }),
}).meta({ id: "SpamSettings" });

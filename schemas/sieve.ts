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

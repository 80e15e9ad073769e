/**
 * RFC 9457 problem details: the one error body every HTTP route answers with. `code` is a stable,
 * machine-readable name; `errors` lists every invalid field of a rejected request.
 */
import { z } from "zod";

export const FieldError = z.object({
  path: z.string().meta({ description: "JSON pointer-like path of the field, e.g. `to.0`." }),
  message: z.string(),
}).meta({ id: "FieldError" });

export const Problem = z.object({
  type: z.string().meta({ description: "A URI naming the problem type." }),
  title: z.string(),
  status: z.number().int(),
  code: z.string().meta({ description: "Stable machine-readable error code." }),
  detail: z.string().optional(),
  instance: z.string().optional(),
  errors: z.array(FieldError).optional(),
}).meta({ id: "Problem", description: "RFC 9457 problem details." });

export type Problem = z.infer<typeof Problem>;
export type FieldError = z.infer<typeof FieldError>;

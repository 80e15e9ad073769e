/**
 * RFC 9457 problem details: the one error body every HTTP route answers with. `code` is a stable,
 * machine-readable name; `errors` lists every invalid field of a rejected request.
 */
import { z } from "zod";

export const FieldError = z.object({
  path: z.string().meta({ description: "JSON pointer-like path of the field, e.g. `to.0`." }),
  message: z.string().meta({ description: "What is wrong with it." }),
}).meta({ id: "FieldError" });

export const Problem = z.object({
  type: z.string().meta({ description: "A URI naming the problem type." }),
  title: z.string().meta({ description: "The HTTP status's title." }),
  status: z.number().int().meta({ description: "The HTTP status code." }),
  code: z.string().meta({ description: "Stable machine-readable error code." }),
  detail: z.string().optional().meta({ description: "What went wrong, for people." }),
  instance: z.string().optional().meta({ description: "The request path." }),
  errors: z.array(FieldError).optional().meta({
    description: "Every invalid field of a refused request (422).",
  }),
}).meta({ id: "Problem", description: "RFC 9457 problem details." });

export type Problem = z.infer<typeof Problem>;
export type FieldError = z.infer<typeof FieldError>;

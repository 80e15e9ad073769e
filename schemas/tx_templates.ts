/**
 * Template API bodies: a named template (subject, text, html in Mustache syntax), each save a
 * new version, and the preview request.
 */
import { z } from "zod";

export const TemplateName = z.string().min(1).max(100).regex(
  /^[A-Za-z0-9][\w.-]*$/,
  "letters, digits, _ . - (starting with a letter or digit)",
);

export const TemplateInput = z.object({
  name: TemplateName,
  subject: z.string().max(998).default(""),
  text: z.string().max(1024 * 1024).optional(),
  html: z.string().max(5 * 1024 * 1024).optional(),
}).meta({ id: "TemplateInput" });

export const TemplateView = z.object({
  name: z.string(),
  version: z.number().int(),
  subject: z.string(),
  text: z.string().nullable(),
  html: z.string().nullable(),
  createdAt: z.string(),
}).meta({ id: "TemplateView" });

export const PreviewRequest = z.object({
  version: z.number().int().positive().optional(),
  variables: z.record(z.string(), z.unknown()).default({}),
}).meta({ id: "TemplatePreviewRequest" });

export const PreviewResponse = z.object({
  subject: z.string(),
  text: z.string().nullable(),
  html: z.string().nullable(),
}).meta({ id: "TemplatePreview" });

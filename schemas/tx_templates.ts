/**
 * Template API bodies: a named template (subject, text, html in Mustache syntax), each save a
 * new version, and the preview request.
 */
import { z } from "zod";

export const TemplateName = z.string().min(1).max(100).regex(
  /^[A-Za-z0-9][\w.-]*$/,
  "letters, digits, _ . - (starting with a letter or digit)",
);

/**
 * Most UTF-8 bytes of one template version, subject, text and HTML together (512 KiB). A
 * template is stored as one row, and Cloudflare D1 refuses rows of 2 MB or more; mail this large
 * is clipped by Gmail above 102 KB anyway, and Postmark caps its templates lower still. Larger
 * content belongs in attachments or behind links.
 */
export const TEMPLATE_MAX_BYTES = 512 * 1024;

export const TemplateInput = z.object({
  name: TemplateName.meta({ description: "The template's name (letters, digits, `_ . -`)." }),
  subject: z.string().max(998).default("").meta({
    description: "The Subject, with `{{variables}}`.",
  }),
  text: z.string().max(TEMPLATE_MAX_BYTES).optional().meta({
    description: "The text body, with `{{variables}}`. Subject, text and HTML together are at " +
      "most 512 KiB (524,288 bytes of UTF-8).",
  }),
  html: z.string().max(TEMPLATE_MAX_BYTES).optional().meta({
    description: "The HTML body: `{{x}}` is escaped, `{{{x}}}` is not. Subject, text and HTML " +
      "together are at most 512 KiB (524,288 bytes of UTF-8).",
  }),
}).meta({
  id: "TemplateInput",
  example: {
    "name": "welcome",
    "subject": "Welcome, {{name}}!",
    "text": "Hi {{name}}, thanks for joining {{product}}.",
    "html": "<p>Hi {{name}}, thanks for joining <b>{{product}}</b>.</p>",
  },
});

export const TemplateView = z.object({
  id: z.number().int().meta({
    description: "This version's id. Postmark's `TemplateId` may name a template by the id of " +
      "any of its versions (its latest version is rendered).",
  }),
  name: z.string().meta({ description: "The template's name." }),
  version: z.number().int().meta({ description: "Its version (1 for the first save)." }),
  subject: z.string().meta({ description: "The Subject template." }),
  text: z.string().nullable().meta({ description: "The text body template." }),
  html: z.string().nullable().meta({ description: "The HTML body template." }),
  createdAt: z.string().meta({ description: "When this version was saved (ISO 8601)." }),
}).meta({
  id: "TemplateView",
  example: {
    "id": 7,
    "name": "welcome",
    "version": 2,
    "subject": "Welcome, {{name}}!",
    "text": "Hi {{name}}, thanks for joining {{product}}.",
    "html": null,
    "createdAt": "2026-12-07T10:00:00.000Z",
  },
});

export const PreviewRequest = z.object({
  version: z.number().int().positive().optional().meta({
    description: "The version to render; default: the latest.",
  }),
  variables: z.record(z.string(), z.unknown()).default({}).meta({
    description: "The variables, as a send would give them.",
  }),
}).meta({
  id: "TemplatePreviewRequest",
  example: { "variables": { "name": "Alice", "product": "Acme" } },
});

export const PreviewResponse = z.object({
  subject: z.string().meta({ description: "The rendered Subject." }),
  text: z.string().nullable().meta({ description: "The rendered text body." }),
  html: z.string().nullable().meta({ description: "The rendered HTML body." }),
}).meta({
  id: "TemplatePreview",
  example: {
    "subject": "Welcome, Alice!",
    "text": "Hi Alice, thanks for joining Acme.",
    "html": "<p>Hi Alice, thanks for joining <b>Acme</b>.</p>",
  },
});

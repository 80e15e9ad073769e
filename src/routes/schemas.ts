/**
 * `/schemas`: the contract's zod types published as JSON Schema (draft 2020-12) for peers that do
 * not use TypeScript. The same types drive validation and the OpenAPI document.
 */
import { Hono } from "hono";
import { z } from "zod";
import { AttachmentInfo, NamedAddress, ParsedMail } from "../../schemas/mail.ts";
import { DraftRequest, SendRequest, SendResponse } from "../../schemas/api_send.ts";
import { Problem } from "../../schemas/problem.ts";
import {
  Mailbox,
  MailboxList,
  MessageBatchRequest,
  MessageDetail,
  MessagePage,
  MessageSummary,
  ThreadDetail,
  ThreadPage,
} from "../../schemas/api_mail.ts";
import {
  BridgeAuthRequest,
  BridgeDeliveryResponse,
  InboundEnvelope,
  RecipientVerdict,
  SubmissionEnvelope,
} from "../../schemas/bridge.ts";
import { problemResponse } from "../http/problem.ts";

export const PUBLISHED_SCHEMAS: Record<string, z.ZodType> = {
  AttachmentInfo,
  BridgeAuthRequest,
  BridgeDeliveryResponse,
  DraftRequest,
  InboundEnvelope,
  Mailbox,
  MailboxList,
  MessageBatchRequest,
  MessageDetail,
  MessagePage,
  MessageSummary,
  NamedAddress,
  ParsedMail,
  Problem,
  RecipientVerdict,
  SendRequest,
  SendResponse,
  SubmissionEnvelope,
  ThreadDetail,
  ThreadPage,
};

export function schemaRoutes(extra: Record<string, z.ZodType> = {}) {
  const all = { ...PUBLISHED_SCHEMAS, ...extra };
  const app = new Hono();
  app.get("/schemas", (c) =>
    c.json({
      schemas: Object.keys(all).sort().map((name) => ({ name, url: `/schemas/${name}.json` })),
    }));
  app.get("/schemas/:file", (c) => {
    const name = c.req.param("file").replace(/\.json$/, "");
    const schema = Object.hasOwn(all, name) ? all[name] : undefined;
    if (!schema) return problemResponse(404, "not_found", `no published schema named ${name}`);
    const json = z.toJSONSchema(schema, {
      io: "input",
      unrepresentable: "any",
      target: "draft-2020-12",
    });
    return c.json({ $id: `/schemas/${name}.json`, title: name, ...json }, 200, {
      "content-type": "application/schema+json",
    });
  });
  return app;
}

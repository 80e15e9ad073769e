/**
 * The JMAP request/response codec (RFC 8620 section 3), pure: a request body parsed into method
 * calls or into the request-level error it deserves (section 3.6.1: notJSON, notRequest,
 * unknownCapability, limit), result references resolved (section 3.7, JSON Pointer RFC 6901
 * with the `*` array map), and the error objects of methods (section 3.6.2) and of /set items
 * (section 5.3). Nothing here touches the store.
 */

export const CORE = "urn:ietf:params:jmap:core";
export const MAIL = "urn:ietf:params:jmap:mail";
export const SUBMISSION = "urn:ietf:params:jmap:submission";
export const CAPABILITIES = [CORE, MAIL, SUBMISSION] as const;

// deno-lint-ignore no-explicit-any
export type Json = any;
export type Invocation = [string, Record<string, Json>, string];

export interface JmapRequest {
  using: string[];
  methodCalls: Invocation[];
  createdIds?: Record<string, string>;
}

/** A request-level error (section 3.6.1): an RFC 7807 problem with the JMAP type URN. */
export interface RequestProblem {
  type: string;
  status: number;
  detail: string;
  limit?: string;
}

const problem = (type: string, detail: string, limit?: string): RequestProblem => ({
  type: `urn:ietf:params:jmap:error:${type}`,
  status: 400,
  detail,
  ...(limit ? { limit } : {}),
});

export interface RequestLimits {
  maxCallsInRequest: number;
  maxSizeRequest: number;
}

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses and checks a request body; returns the request or the problem to answer with. */
export function parseRequest(
  body: Uint8Array,
  limits: RequestLimits,
): { ok: true; request: JmapRequest } | { ok: false; problem: RequestProblem } {
  if (body.byteLength > limits.maxSizeRequest) {
    return {
      ok: false,
      problem: problem(
        "limit",
        `the request exceeds ${limits.maxSizeRequest} octets`,
        "maxSizeRequest",
      ),
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return { ok: false, problem: problem("notJSON", "the request body is not I-JSON") };
  }
  if (!isObject(value) || !Array.isArray(value.using) || !Array.isArray(value.methodCalls)) {
    return {
      ok: false,
      problem: problem("notRequest", "the body must be a Request object (using, methodCalls)"),
    };
  }
  if (!value.using.every((u: unknown) => typeof u === "string")) {
    return { ok: false, problem: problem("notRequest", "`using` must hold strings") };
  }
  for (const call of value.methodCalls) {
    if (
      !Array.isArray(call) || call.length !== 3 || typeof call[0] !== "string" ||
      !isObject(call[1]) || typeof call[2] !== "string"
    ) {
      return {
        ok: false,
        problem: problem("notRequest", "each method call is [name, arguments, id]"),
      };
    }
  }
  if (value.createdIds !== undefined && !isObject(value.createdIds)) {
    return { ok: false, problem: problem("notRequest", "`createdIds` must be an object") };
  }
  const unknown = value.using.find((u: string) => !(CAPABILITIES as readonly string[]).includes(u));
  if (unknown !== undefined) {
    return {
      ok: false,
      problem: problem("unknownCapability", `the server does not support "${unknown}"`),
    };
  }
  if (value.methodCalls.length > limits.maxCallsInRequest) {
    return {
      ok: false,
      problem: problem(
        "limit",
        `at most ${limits.maxCallsInRequest} method calls per request`,
        "maxCallsInRequest",
      ),
    };
  }
  return {
    ok: true,
    request: {
      using: value.using,
      methodCalls: value.methodCalls,
      ...(value.createdIds ? { createdIds: value.createdIds } : {}),
    },
  };
}

/** A method-level error (section 3.6.2); thrown by handlers, answered as an "error" response. */
export class MethodError extends Error {
  constructor(readonly type: string, description?: string, readonly extra?: Record<string, Json>) {
    super(description ?? type);
  }
  toArgs(): Record<string, Json> {
    return { type: this.type, description: this.message, ...this.extra };
  }
}

export const invalidArguments = (description: string) =>
  new MethodError("invalidArguments", description);

/** A SetError (section 5.3) for one object of a /set, /copy or /import. */
export interface SetError {
  type: string;
  description?: string;
  properties?: string[];
  [extra: string]: Json;
}
export const setError = (type: string, description?: string, properties?: string[]): SetError => ({
  type,
  ...(description ? { description } : {}),
  ...(properties ? { properties } : {}),
});

/** Thrown inside a /set step to make that one item fail with this SetError. */
export class SetFailure extends Error {
  constructor(readonly error: SetError) {
    super(error.description ?? error.type);
  }
}

/** RFC 6901 unescaping of one reference token. */
const unescape = (token: string) => token.replace(/~1/g, "/").replace(/~0/g, "~");

/**
 * Evaluates a JMAP result-reference path (section 3.7): a JSON Pointer where `*` over an array
 * applies the rest of the path to each item and flattens arrays of arrays one level.
 */
export function evaluatePointer(value: Json, path: string): { ok: true; value: Json } | {
  ok: false;
} {
  if (path === "") return { ok: true, value };
  if (!path.startsWith("/")) return { ok: false };
  const tokens = path.slice(1).split("/").map(unescape);
  const walk = (v: Json, i: number): { ok: true; value: Json } | { ok: false } => {
    if (i === tokens.length) return { ok: true, value: v };
    const token = tokens[i];
    if (Array.isArray(v)) {
      if (token === "*") {
        const out: Json[] = [];
        for (const item of v) {
          const r = walk(item, i + 1);
          if (!r.ok) return r;
          if (Array.isArray(r.value)) out.push(...r.value);
          else out.push(r.value);
        }
        return { ok: true, value: out };
      }
      if (!/^(0|[1-9][0-9]*)$/.test(token) || Number(token) >= v.length) return { ok: false };
      return walk(v[Number(token)], i + 1);
    }
    if (isObject(v) && Object.hasOwn(v, token)) return walk(v[token], i + 1);
    return { ok: false };
  };
  return walk(value, 0);
}

/**
 * Replaces every `#name` argument by the value it references in earlier responses (section
 * 3.7). Throws MethodError invalidArguments when both `name` and `#name` are given, and
 * invalidResultReference when a reference cannot be resolved.
 */
export function resolveReferences(
  args: Record<string, Json>,
  responses: readonly Invocation[],
): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(args)) {
    if (!key.startsWith("#")) {
      out[key] = value;
      continue;
    }
    const name = key.slice(1);
    if (Object.hasOwn(args, name)) {
      throw invalidArguments(`both "${name}" and "${key}" are given`);
    }
    if (
      !isObject(value) || typeof value.resultOf !== "string" || typeof value.name !== "string" ||
      typeof value.path !== "string"
    ) {
      throw new MethodError("invalidResultReference", `"${key}" is not a ResultReference`);
    }
    const source = responses.find((r) => r[2] === value.resultOf);
    if (!source || source[0] !== value.name) {
      throw new MethodError(
        "invalidResultReference",
        `no "${value.name}" response with id "${value.resultOf}"`,
      );
    }
    const found = evaluatePointer(source[1], value.path);
    if (!found.ok) {
      throw new MethodError("invalidResultReference", `the path "${value.path}" does not resolve`);
    }
    out[name] = found.value;
  }
  return out;
}

/** JMAP Id syntax (section 1.2): 1-255 octets of URL-safe base64 characters. */
export const isId = (v: unknown): v is string =>
  typeof v === "string" && /^[A-Za-z0-9_-]{1,255}$/.test(v);

/** UTCDate (section 1.4): RFC 3339 `date-time` with `Z`. */
export const utcDate = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Parses a UTCDate or Date argument (RFC 3339); undefined when malformed. */
export function parseDate(v: unknown): number | undefined {
  if (typeof v !== "string") return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(v)) {
    return undefined;
  }
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

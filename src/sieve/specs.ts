/**
 * What each Sieve command and test accepts: its extension (the capability that must be
 * `require`d), tags with their argument kinds and mutually exclusive groups, positional
 * argument kinds, tests and block. RFC 5228 sections 3-5 and the extensions' grammars:
 * fileinto/copy (RFC 3894), reject/ereject (RFC 5429), envelope, imap4flags (RFC 5232),
 * variables (RFC 5229), vacation (RFC 5230), relational (RFC 5231), subaddress (RFC 5233),
 * date/index (RFC 5260), body (RFC 5173). Not offered: RFC 5490's mailbox extension (its
 * `:create` would make a mailbox in the middle of a delivery).
 */
import type { Position } from "./errors.ts";
import type { Node } from "./validate.ts";

export type ArgKind = "string" | "strings" | "number";

export interface TagSpec {
  arg?: ArgKind;
  /** Tags of one group exclude each other (match types, address parts, comparators). */
  group?: string;
  /** Any one of these extensions makes the tag available. */
  ext?: string[];
}

export interface Spec {
  ext?: string;
  tags?: Record<string, TagSpec>;
  positional?: ArgKind[];
  /** Positional arguments from this index on may be left out (RFC 5232's variable name). */
  optionalFrom?: number;
  tests?: "none" | "one" | "list";
  block?: boolean;
  check?: (node: Node, error: (reason: string, at?: Position) => void, ext: Set<string>) => void;
}

const COMPARATOR: Record<string, TagSpec> = { comparator: { arg: "string", group: "comparator" } };
const MATCH: Record<string, TagSpec> = {
  is: { group: "match" },
  contains: { group: "match" },
  matches: { group: "match" },
  count: { arg: "string", group: "match", ext: ["relational"] },
  value: { arg: "string", group: "match", ext: ["relational"] },
};
const ADDRESS_PART: Record<string, TagSpec> = {
  all: { group: "part" },
  localpart: { group: "part" },
  domain: { group: "part" },
  user: { group: "part", ext: ["subaddress"] },
  detail: { group: "part", ext: ["subaddress"] },
};
const INDEX: Record<string, TagSpec> = {
  index: { arg: "number", ext: ["index"] },
  last: { ext: ["index"] },
};
const FLAGS: Record<string, TagSpec> = { flags: { arg: "strings", ext: ["imap4flags"] } };
const COPY: Record<string, TagSpec> = { copy: { ext: ["copy"] } };

/** RFC 5231 section 4: the relational operators of `:count` and `:value`. */
export const RELATIONS = new Set(["gt", "ge", "lt", "le", "eq", "ne"]);
/** RFC 5260 section 4.2: the date parts a `date`/`currentdate` test can extract. */
export const DATE_PARTS = new Set([
  "year",
  "month",
  "day",
  "date",
  "julian",
  "hour",
  "minute",
  "second",
  "time",
  "iso8601",
  "std11",
  "zone",
  "weekday",
]);

const checkMatch: Spec["check"] = (node, error) => {
  for (const tag of ["count", "value"]) {
    const rel = node.tags.get(tag);
    if (Array.isArray(rel) && !RELATIONS.has(rel[0].toLowerCase())) {
      error(`":${tag}" needs one of gt, ge, lt, le, eq, ne (got "${rel[0]}")`);
    }
  }
  if (node.tags.has("last") && !node.tags.has("index")) error('":last" needs ":index"');
  const index = node.tags.get("index");
  if (typeof index === "number" && index < 1) error('":index" counts from 1');
};

const flagCommand: Spec = {
  ext: "imap4flags",
  positional: ["strings", "strings"],
  optionalFrom: 1,
  check: (node, error, ext) => {
    if (node.positional.length === 2) {
      if (!ext.has("variables")) {
        error('a variable name in a flag command needs require "variables"');
      }
      const name = node.positional[0];
      if (!Array.isArray(name) || name.length !== 1 || !isVariableName(name[0])) {
        error("the first argument must be one variable name");
      }
    }
  },
};

export const COMMANDS: Record<string, Spec> = {
  if: { tests: "one", block: true },
  elsif: { tests: "one", block: true },
  else: { block: true },
  stop: {},
  keep: { tags: FLAGS },
  discard: {},
  redirect: { positional: ["string"], tags: COPY },
  fileinto: {
    ext: "fileinto",
    positional: ["string"],
    tags: { ...COPY, ...FLAGS },
  },
  reject: { ext: "reject", positional: ["string"] },
  ereject: { ext: "ereject", positional: ["string"] },
  setflag: flagCommand,
  addflag: flagCommand,
  removeflag: flagCommand,
  set: {
    ext: "variables",
    positional: ["string", "string"],
    tags: {
      lower: { group: "case" },
      upper: { group: "case" },
      lowerfirst: { group: "first" },
      upperfirst: { group: "first" },
      quotewildcard: { group: "quote" },
      length: { group: "length" },
    },
    check: (node, error) => {
      const name = node.positional[0];
      if (Array.isArray(name) && !isVariableName(name[0])) {
        error(`"${name[0]}" is not a variable name (letters, digits, "_" and "." between names)`);
      }
    },
  },
  vacation: {
    ext: "vacation",
    positional: ["string"],
    tags: {
      days: { arg: "number" },
      subject: { arg: "string" },
      from: { arg: "string" },
      addresses: { arg: "strings" },
      mime: {},
      handle: { arg: "string" },
    },
    check: (node, error) => {
      const days = node.tags.get("days");
      if (days === 0) error('":days" must be at least 1 (RFC 5230 section 4.1)');
    },
  },
};

export const TESTS: Record<string, Spec> = {
  address: {
    positional: ["strings", "strings"],
    tags: { ...COMPARATOR, ...MATCH, ...ADDRESS_PART, ...INDEX },
    check: checkMatch,
  },
  envelope: {
    ext: "envelope",
    positional: ["strings", "strings"],
    tags: { ...COMPARATOR, ...MATCH, ...ADDRESS_PART },
    check: checkMatch,
  },
  header: {
    positional: ["strings", "strings"],
    tags: { ...COMPARATOR, ...MATCH, ...INDEX },
    check: checkMatch,
  },
  exists: { positional: ["strings"] },
  size: {
    positional: ["number"],
    tags: { over: { group: "size" }, under: { group: "size" } },
    check: (node, error) => {
      if (!node.tags.has("over") && !node.tags.has("under")) {
        error('"size" needs ":over" or ":under"');
      }
    },
  },
  allof: { tests: "list" },
  anyof: { tests: "list" },
  not: { tests: "one" },
  true: {},
  false: {},
  string: {
    ext: "variables",
    positional: ["strings", "strings"],
    tags: { ...COMPARATOR, ...MATCH },
    check: checkMatch,
  },
  date: {
    ext: "date",
    positional: ["string", "string", "strings"],
    tags: {
      ...COMPARATOR,
      ...MATCH,
      ...INDEX,
      zone: { arg: "string", group: "zone" },
      originalzone: { group: "zone" },
    },
    check: (node, error) => {
      checkMatch(node, error, new Set());
      checkDatePart(node.positional[1], error);
    },
  },
  currentdate: {
    ext: "date",
    positional: ["string", "strings"],
    tags: { ...COMPARATOR, ...MATCH, zone: { arg: "string" } },
    check: (node, error) => {
      checkMatch(node, error, new Set());
      checkDatePart(node.positional[0], error);
    },
  },
  body: {
    ext: "body",
    positional: ["strings"],
    tags: {
      ...COMPARATOR,
      ...MATCH,
      raw: { group: "transform" },
      content: { arg: "strings", group: "transform" },
      text: { group: "transform" },
    },
    check: checkMatch,
  },
  hasflag: {
    ext: "imap4flags",
    positional: ["strings", "strings"],
    optionalFrom: 1,
    tags: { ...COMPARATOR, ...MATCH },
    check: checkMatch,
  },
};

function checkDatePart(part: unknown, error: (reason: string) => void) {
  if (Array.isArray(part) && !DATE_PARTS.has(String(part[0]).toLowerCase())) {
    error(`unknown date part "${part[0]}"`);
  }
}

/** RFC 5229 section 3: identifier ("." identifier)*, no leading digit. */
export function isVariableName(s: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(s);
}

/**
 * Sieve tests (RFC 5228 section 5): `address`, `envelope`, `header`, `exists`, `size`,
 * `allof`/`anyof`/`not`, `true`/`false`; `string` (RFC 5229 section 5), `hasflag` (RFC 5232
 * section 5), `date`/`currentdate` and `:index` (RFC 5260), `body` (RFC 5173). Header values
 * are compared decoded (RFC 2047, section 2.7.2); address parts include RFC 5233's `:user` and
 * `:detail` with "+" as the separator.
 */
import { decodeWords } from "../mime/encoded_words.ts";
import { readAddressList } from "../mime/address_list.ts";
import { datePart, readHeaderDate, zoneMinutes } from "./dates.ts";
import { SieveRuntimeError } from "./errors.ts";
import type { Run } from "./interpreter.ts";
import { flagList } from "./interpreter.ts";
import { type Comparator, matchAny, type MatchType } from "./match.ts";
import type { Node } from "./validate.ts";

export function evaluateTest(run: Run, node: Node): boolean {
  run.step(node);
  const { tags, positional, tests } = node;
  switch (node.name) {
    case "true":
      return true;
    case "false":
      return false;
    case "not":
      return !evaluateTest(run, tests[0]);
    case "allof":
      return tests.every((t) => evaluateTest(run, t));
    case "anyof":
      return tests.some((t) => evaluateTest(run, t));
    case "exists": {
      const names = run.list(positional[0]).map((n) => n.toLowerCase());
      return names.every((n) => run.msg.headers.some((h) => h.name.toLowerCase() === n));
    }
    case "size": {
      const limit = positional[0] as number;
      return tags.has("over") ? run.msg.size > limit : run.msg.size < limit;
    }
    case "header":
      return compare(run, node, headerValues(run, node, run.list(positional[0])), positional[1]);
    case "address": {
      const fields = headerValues(run, node, run.list(positional[0]), false);
      const addresses = fields.flatMap((v) => readAddressList(v).map((a) => a.address));
      return compare(run, node, addressParts(node, addresses), positional[1]);
    }
    case "envelope": {
      const values: string[] = [];
      for (const part of run.list(positional[0])) {
        const p = part.toLowerCase();
        if (p === "from") values.push(run.msg.envelope.from);
        else if (p === "to") values.push(run.msg.envelope.to);
      }
      // RFC 5228 section 5.4: the null reverse-path is the empty string, whatever the part.
      const parts = values.flatMap((v) => v === "" ? [""] : addressParts(node, [v]));
      return compare(run, node, parts, positional[1]);
    }
    case "string": {
      const values = run.list(positional[0]);
      // RFC 5229 section 5: `:count` counts the non-empty strings.
      const counted = tags.has("count") ? values.filter((v) => v !== "") : values;
      return compare(run, node, counted, positional[1]);
    }
    case "hasflag": {
      const named = positional.length === 2;
      const flags = named
        ? flagList(run.list(positional[0]).map((n) => run.vars.get(n)))
        : run.flags;
      return compare(run, node, flags, positional[named ? 1 : 0]);
    }
    case "date": {
      const header = run.str(positional[0]);
      const part = run.str(positional[1]);
      const values: string[] = [];
      for (const raw of headerValues(run, node, [header])) {
        const d = readHeaderDate(raw);
        if (!d) continue;
        values.push(datePart(d.ms, zoneFor(run, node, d.zone), part));
      }
      return compare(run, node, values, positional[2]);
    }
    case "currentdate":
      return compare(
        run,
        node,
        [datePart(run.msg.now, zoneFor(run, node, run.msg.zone ?? 0), run.str(positional[0]))],
        positional[1],
      );
    case "body":
      return compare(run, node, bodyValues(run, node), positional[0]);
    default:
      throw new SieveRuntimeError(node.at, `unknown test "${node.name}"`);
  }
}

/** The match type, comparator and keys of a test, applied to `values`. */
function compare(run: Run, node: Node, values: string[], keysArg: unknown): boolean {
  const { tags } = node;
  const keys = run.list(keysArg as string[]);
  const type: MatchType = tags.has("contains")
    ? { kind: "contains" }
    : tags.has("matches")
    ? { kind: "matches" }
    : tags.has("value")
    ? { kind: "value", relation: run.str(tags.get("value")) }
    : tags.has("count")
    ? { kind: "count", relation: run.str(tags.get("count")) }
    : { kind: "is" };
  const cmpArg = tags.get("comparator");
  const cmp = (Array.isArray(cmpArg) ? cmpArg[0].toLowerCase() : "i;ascii-casemap") as Comparator;
  return matchAny(values, keys, type, cmp, (groups) => {
    run.vars.matches = groups;
  });
}

/**
 * The values of the named fields, in order, decoded and trimmed; `:index`/`:last` pick one
 * occurrence (RFC 5260 section 6).
 */
function headerValues(run: Run, node: Node, names: string[], decode = true): string[] {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  let values = run.msg.headers.filter((h) => wanted.has(h.name.toLowerCase()))
    .map((h) => (decode ? decodeWords(h.value) : h.value).trim());
  const index = node.tags.get("index");
  if (typeof index === "number") {
    const i = node.tags.has("last") ? values.length - index : index - 1;
    values = i >= 0 && i < values.length ? [values[i]] : [];
  }
  return values;
}

/** RFC 5228 section 2.7.4 and RFC 5233 section 4: the part of each address compared. */
function addressParts(node: Node, addresses: string[]): string[] {
  const { tags } = node;
  const out: string[] = [];
  for (const address of addresses) {
    const at = address.lastIndexOf("@");
    const local = at >= 0 ? address.slice(0, at) : address;
    const domain = at >= 0 ? address.slice(at + 1) : "";
    if (tags.has("localpart")) out.push(local);
    else if (tags.has("domain")) out.push(domain);
    else if (tags.has("user") || tags.has("detail")) {
      const plus = local.indexOf("+");
      if (tags.has("user")) out.push(plus >= 0 ? local.slice(0, plus) : local);
      // No separator: `:detail` has nothing to compare, and the address does not match.
      else if (plus >= 0) out.push(local.slice(plus + 1));
    } else out.push(address);
  }
  return out;
}

/** RFC 5260 section 4.1: `:zone`, `:originalzone`, or the server's own zone. */
function zoneFor(run: Run, node: Node, original: number): number {
  if (node.tags.has("originalzone")) return original;
  const zone = node.tags.get("zone");
  if (Array.isArray(zone)) {
    const minutes = zoneMinutes(run.str(zone));
    if (minutes === undefined) throw new SieveRuntimeError(node.at, `bad zone "${zone[0]}"`);
    return minutes;
  }
  return run.msg.zone ?? 0;
}

/** RFC 5173 section 5: `:raw`, `:content` types, or `:text` (the text parts, the default). */
function bodyValues(run: Run, node: Node): string[] {
  const { body } = run.msg;
  if (node.tags.has("raw")) return [body.raw];
  const content = node.tags.get("content");
  if (Array.isArray(content)) {
    const types = run.list(content).map((t) => t.toLowerCase());
    return body.parts.filter((p) =>
      types.some((t) =>
        t === "" || p.contentType === t || (!t.includes("/") && p.contentType.startsWith(t + "/"))
      )
    ).map((p) => p.text);
  }
  return body.parts.filter((p) => p.contentType.startsWith("text/")).map((p) => p.text);
}

/**
 * Runs validated Sieve programs over a message (RFC 5228 section 2.10): control (`if`/`elsif`/
 * `else`, `stop`), actions (`keep`, `discard`, `redirect`, `fileinto`, `reject`/`ereject`,
 * `vacation`, the imap4flags and variables commands) and the implicit keep, which stays unless
 * an action cancels it (section 2.10.2; `:copy` never does, RFC 3894). Conflicts end the run
 * in error (RFC 5429 section 2.1: reject with any keep, fileinto, redirect or vacation; two
 * rejects or two vacations), and so does going past the step limit: the caller keeps the
 * message then (section 2.10.6). Several programs may run in turn over one state (the managed
 * rules, then the user's script); `stop` ends them all.
 */
import type { FileInto, SieveMessage, SieveOutcome, VacationRequest } from "./context.ts";
import { SieveRuntimeError } from "./errors.ts";
import { evaluateTest } from "./tests.ts";
import type { Node, Program, Value } from "./validate.ts";
import { applyModifiers, Variables } from "./variables.ts";

export interface RunLimits {
  /** Commands and tests evaluated, in all programs together. */
  maxSteps: number;
  /** Redirects kept; later ones are ignored and noted (RFC 5228 section 4.2). */
  maxRedirects: number;
}

export const DEFAULT_LIMITS: RunLimits = { maxSteps: 10_000, maxRedirects: 4 };

/** RFC 5230 section 4.1: the default and least `:days`. */
const DEFAULT_DAYS = 7;

const STOP = Symbol("stop");

/** The mutable state of one run (shared by the programs of a sequence). */
export class Run {
  steps = 0;
  implicitKeep = true;
  keep?: { flags: string[] };
  fileinto: FileInto[] = [];
  redirects: string[] = [];
  reject?: { reason: string; extended: boolean };
  vacation?: VacationRequest;
  notes: string[] = [];
  /** RFC 5232 section 3: the internal flags variable. */
  flags: string[] = [];
  vars = new Variables();
  program!: Program;

  constructor(readonly msg: SieveMessage, readonly limits: RunLimits) {}

  step(node: Node) {
    if (++this.steps > this.limits.maxSteps) {
      throw new SieveRuntimeError(node.at, `more than ${this.limits.maxSteps} steps`);
    }
  }

  /** A string argument with variables expanded (RFC 5229 section 3) when the script uses them. */
  str(v: Value | true | undefined): string {
    const s = Array.isArray(v) ? v[0] : "";
    return this.program.extensions.has("variables") ? this.vars.expand(s) : s;
  }

  list(v: Value | true | undefined): string[] {
    const l = Array.isArray(v) ? v : [];
    return this.program.extensions.has("variables") ? l.map((s) => this.vars.expand(s)) : l;
  }
}

/** Runs `programs` in order over `msg`; throws SieveRuntimeError (the caller keeps the message). */
export function runSieve(
  programs: Program[],
  msg: SieveMessage,
  limits: RunLimits = DEFAULT_LIMITS,
): SieveOutcome {
  const run = new Run(msg, limits);
  for (const program of programs) {
    run.program = program;
    run.vars = new Variables();
    if (block(run, program.commands) === STOP) break;
  }
  return finish(run);
}

function block(run: Run, nodes: Node[]): typeof STOP | undefined {
  let chainDone = true;
  for (const node of nodes) {
    run.step(node);
    switch (node.name) {
      case "if":
        chainDone = evaluateTest(run, node.tests[0]);
        if (chainDone && block(run, node.block!) === STOP) return STOP;
        continue;
      case "elsif":
        if (chainDone) continue;
        chainDone = evaluateTest(run, node.tests[0]);
        if (chainDone && block(run, node.block!) === STOP) return STOP;
        continue;
      case "else":
        if (chainDone) continue;
        chainDone = true;
        if (block(run, node.block!) === STOP) return STOP;
        continue;
      case "stop":
        return STOP;
      default:
        action(run, node);
    }
  }
  return undefined;
}

/** RFC 5232 section 3: flags are space-separated words, kept once each (case-insensitively). */
export function flagList(values: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const v of values) {
    for (const f of v.split(/\s+/)) {
      if (!f || seen.has(f.toLowerCase())) continue;
      seen.add(f.toLowerCase());
      out.push(f);
    }
  }
  return out;
}

function action(run: Run, node: Node) {
  const { tags, positional } = node;
  const flagsFor = () => tags.has("flags") ? flagList(run.list(tags.get("flags"))) : [...run.flags];
  switch (node.name) {
    case "keep":
      run.keep = { flags: flagList([...(run.keep?.flags ?? []), ...flagsFor()]) };
      return;
    case "discard":
      run.implicitKeep = false;
      return;
    case "fileinto": {
      const mailbox = run.str(positional[0]);
      const flags = flagsFor();
      const same = run.fileinto.find((f) => f.mailbox === mailbox);
      if (same) same.flags = flagList([...same.flags, ...flags]);
      else run.fileinto.push({ mailbox, flags });
      if (!tags.has("copy")) run.implicitKeep = false;
      return;
    }
    case "redirect": {
      const address = run.str(positional[0]).trim();
      if (!/^[^\s@<>]+@[^\s@<>]+$/.test(address)) {
        throw new SieveRuntimeError(node.at, `redirect to "${address}": not an address`);
      }
      if (!tags.has("copy")) run.implicitKeep = false;
      if (run.redirects.some((r) => r.toLowerCase() === address.toLowerCase())) return;
      if (run.redirects.length >= run.limits.maxRedirects) {
        run.notes.push(`redirect to ${address} ignored: at most ${run.limits.maxRedirects}`);
        return;
      }
      run.redirects.push(address);
      return;
    }
    case "reject":
    case "ereject":
      if (run.reject) throw new SieveRuntimeError(node.at, "a second reject");
      run.reject = { reason: run.str(positional[0]), extended: node.name === "ereject" };
      run.implicitKeep = false;
      return;
    case "vacation":
      if (run.vacation) throw new SieveRuntimeError(node.at, "a second vacation");
      run.vacation = vacationRequest(run, node);
      return;
    case "set": {
      const name = Array.isArray(positional[0]) ? positional[0][0] : "";
      const mods = new Set([...node.tags.keys()]);
      run.vars.set(name, applyModifiers(run.str(positional[1]), mods));
      return;
    }
    case "setflag":
    case "addflag":
    case "removeflag":
      flagCommand(run, node);
      return;
    default:
      throw new SieveRuntimeError(node.at, `"${node.name}" cannot run here`);
  }
}

/** RFC 5232 section 4: the flag commands, on the internal variable or a named one. */
function flagCommand(run: Run, node: Node) {
  const named = node.positional.length === 2;
  const varName = named ? (node.positional[0] as string[])[0] : undefined;
  const given = flagList(run.list(node.positional[named ? 1 : 0]));
  const current = varName !== undefined ? flagList([run.vars.get(varName)]) : run.flags;
  let next: string[];
  if (node.name === "setflag") next = given;
  else if (node.name === "addflag") next = flagList([...current, ...given]);
  else {
    const drop = new Set(given.map((f) => f.toLowerCase()));
    next = current.filter((f) => !drop.has(f.toLowerCase()));
  }
  if (varName !== undefined) run.vars.set(varName, next.join(" "));
  else run.flags = next;
}

function vacationRequest(run: Run, node: Node): VacationRequest {
  const t = node.tags;
  const days = typeof t.get("days") === "number" ? t.get("days") as number : DEFAULT_DAYS;
  return {
    reason: run.str(node.positional[0]),
    days: Math.max(1, days),
    subject: t.has("subject") ? run.str(t.get("subject")) : undefined,
    from: t.has("from") ? run.str(t.get("from")) : undefined,
    addresses: t.has("addresses") ? run.list(t.get("addresses")) : [],
    mime: t.has("mime"),
    handle: t.has("handle") ? run.str(t.get("handle")) : undefined,
  };
}

function finish(run: Run): SieveOutcome {
  if (run.reject) {
    // RFC 5429 section 2.1: a message refused cannot also be kept, filed, redirected or answered.
    const others = [
      run.keep && "keep",
      run.fileinto.length > 0 && "fileinto",
      run.redirects.length > 0 && "redirect",
      run.vacation && "vacation",
    ].filter(Boolean);
    if (others.length > 0) {
      throw new SieveRuntimeError(undefined, `reject cannot be combined with ${others.join(", ")}`);
    }
  }
  const keep = run.keep ?? (run.implicitKeep ? { flags: [...run.flags] } : undefined);
  return {
    keep,
    fileinto: run.fileinto,
    redirects: run.redirects,
    reject: run.reject,
    vacation: run.vacation,
    discarded: !keep && run.fileinto.length === 0 && run.redirects.length === 0 && !run.reject,
    notes: run.notes,
  };
}

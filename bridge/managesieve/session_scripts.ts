/**
 * The authenticated ManageSieve commands (RFC 5804 section 2.5 to 2.13): HAVESPACE, PUTSCRIPT
 * (the gateway validates; a refusal names each error's line and reason, section 2.6),
 * CHECKSCRIPT (section 2.12), LISTSCRIPTS, SETACTIVE (`""` deactivates), GETSCRIPT,
 * DELETESCRIPT (the active script is refused with ACTIVE), RENAMESCRIPT (ALREADYEXISTS). A
 * gateway that cannot be reached answers NO (TRYLATER): nothing is half done.
 */
import { type ScriptProblem, ScriptRefused } from "./backend.ts";
import { badScriptName, type Token } from "./parse.ts";
import { no, ok, str } from "./reply.ts";
import { type Action, send, type SessionContext } from "./session_types.ts";

const tryLater = () => [send(no("the mail service is unavailable, try again later", "TRYLATER"))];

/** Section 2.6: "line N: reason", one per line, as the gateway found them. */
export function describeProblems(errors: ScriptProblem[]): string {
  return errors.map((e) => `line ${e.line}: ${e.reason}`).join("\n") || "invalid script";
}

/** The arguments when they have the expected kinds, else undefined. */
function expect<const K extends readonly ("string" | "number")[]>(
  args: Token[],
  kinds: K,
): { [I in keyof K]: K[I] extends "number" ? number : string } | undefined {
  if (args.length !== kinds.length) return undefined;
  const out: (string | number)[] = [];
  for (const [i, kind] of kinds.entries()) {
    const a = args[i];
    if (a.type !== kind) return undefined;
    out.push(a.value);
  }
  return out as never;
}

/** Runs one script command; undefined for a command name this module does not know. */
export async function scriptCommand(
  s: SessionContext,
  command: string,
  args: Token[],
): Promise<Action[] | undefined> {
  const handler = HANDLERS[command];
  if (!handler) return undefined;
  try {
    return await handler(s, args);
  } catch (e) {
    return e instanceof ScriptRefused ? [send(no(e.message))] : tryLater();
  }
}

type Handler = (s: SessionContext, args: Token[]) => Promise<Action[]>;

const nameProblem = (name: string) => {
  const why = badScriptName(name);
  return why ? [send(no(why))] : undefined;
};

const HANDLERS: Record<string, Handler> = {
  // Section 2.5: would a script of this name and size fit?
  async HAVESPACE(s, args) {
    const a = expect(args, ["string", "number"]);
    if (!a) return s.bad("usage: HAVESPACE name size");
    const [name, size] = a;
    const refused = nameProblem(name);
    if (refused) return refused;
    if (size > s.capabilities.maxScriptBytes) {
      return [
        send(no(`scripts are limited to ${s.capabilities.maxScriptBytes} octets`, "QUOTA/MAXSIZE")),
      ];
    }
    const scripts = await s.account.list();
    if (
      !scripts.some((x) => x.name === name) && scripts.length >= s.capabilities.maxScripts
    ) {
      return [
        send(
          no(`accounts are limited to ${s.capabilities.maxScripts} scripts`, "QUOTA/MAXSCRIPTS"),
        ),
      ];
    }
    return [send(ok())];
  },

  async PUTSCRIPT(s, args) {
    const a = expect(args, ["string", "string"]);
    if (!a) return s.bad("usage: PUTSCRIPT name script");
    const [name, script] = a;
    const refused = nameProblem(name);
    if (refused) return refused;
    const r = await s.account.put(name, script);
    if (r.ok) return [send(warned(r.warnings))];
    if (r.kind === "invalid") return [send(no(describeProblems(r.errors)))];
    return [
      send(
        r.limit === "size"
          ? no("the script is larger than the server allows", "QUOTA/MAXSIZE")
          : no(`accounts are limited to ${s.capabilities.maxScripts} scripts`, "QUOTA/MAXSCRIPTS"),
      ),
    ];
  },

  async CHECKSCRIPT(s, args) {
    const a = expect(args, ["string"]);
    if (!a) return s.bad("usage: CHECKSCRIPT script");
    const r = await s.account.check(a[0]);
    return [send(r.ok ? warned(r.warnings) : no(describeProblems(r.errors)))];
  },

  // Section 2.7: one line per script, the active one marked ACTIVE.
  async LISTSCRIPTS(s, args) {
    if (args.length > 0) return s.bad("LISTSCRIPTS takes no arguments");
    const scripts = await s.account.list();
    const lines = scripts.map((x) => `${str(x.name)}${x.active ? " ACTIVE" : ""}\r\n`);
    return [send(lines.join("") + ok())];
  },

  async SETACTIVE(s, args) {
    const a = expect(args, ["string"]);
    if (!a) return s.bad("usage: SETACTIVE name");
    // Section 2.8: the empty name deactivates whichever script is active.
    const r = await s.account.setActive(a[0] === "" ? null : a[0]);
    return [send(r === "ok" ? ok() : no("there is no script by that name", "NONEXISTENT"))];
  },

  // Section 2.9: the script as a literal, then OK.
  async GETSCRIPT(s, args) {
    const a = expect(args, ["string"]);
    if (!a) return s.bad("usage: GETSCRIPT name");
    const got = await s.account.get(a[0]);
    if (!got) return [send(no("there is no script by that name", "NONEXISTENT"))];
    const octets = new TextEncoder().encode(got.script).byteLength;
    return [send(`{${octets}}\r\n${got.script}\r\n${ok()}`)];
  },

  async DELETESCRIPT(s, args) {
    const a = expect(args, ["string"]);
    if (!a) return s.bad("usage: DELETESCRIPT name");
    const r = await s.account.delete(a[0]);
    if (r === "ok") return [send(ok())];
    // Section 2.10: the active script cannot be deleted.
    if (r === "active") return [send(no("the active script cannot be deleted", "ACTIVE"))];
    return [send(no("there is no script by that name", "NONEXISTENT"))];
  },

  async RENAMESCRIPT(s, args) {
    const a = expect(args, ["string", "string"]);
    if (!a) return s.bad("usage: RENAMESCRIPT old-name new-name");
    const refused = nameProblem(a[1]);
    if (refused) return refused;
    const r = await s.account.rename(a[0], a[1]);
    if (r === "ok") return [send(ok())];
    // Section 2.11.1: the new name must not be taken.
    if (r === "exists") return [send(no("a script by the new name exists", "ALREADYEXISTS"))];
    return [send(no("there is no script by that name", "NONEXISTENT"))];
  },
};

// Section 2.6: a script accepted with warnings is answered OK (WARNINGS) with their text.
function warned(warnings: string[]): string {
  return warnings.length > 0 ? ok(warnings.join("\n"), "WARNINGS") : ok();
}

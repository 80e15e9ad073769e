/**
 * The argument handling every standard method shares (RFC 8620 section 5): `ids` and
 * `properties` of /get (5.1) with maxObjectsInGet, the result window of /query (5.5: position,
 * anchor, anchorOffset, limit, calculateTotal) and the folding of changes into /queryChanges
 * (5.6), `ifInState` of /set (5.3) and its object-count limit.
 */
import type { Ctx } from "./context.ts";
import { resolveId } from "./context.ts";
import { invalidArguments, type Json, MethodError, type SetError } from "./protocol.ts";

/** The ids asked for (null: all), after `#creationId` resolution, within maxObjectsInGet. */
export function idsArg(ctx: Ctx, args: Record<string, Json>): string[] | null {
  const ids = args.ids;
  if (ids === undefined || ids === null) return null;
  if (!Array.isArray(ids) || !ids.every((i) => typeof i === "string")) {
    throw invalidArguments('"ids" must be an array of Id strings or null');
  }
  if (ids.length > ctx.limits.maxObjectsInGet) {
    throw new MethodError("requestTooLarge", `at most ${ctx.limits.maxObjectsInGet} ids per get`);
  }
  return [...new Set(ids.map((i) => String(resolveId(ctx, i))))];
}

/** The properties asked for (all when absent), each one the type has; `id` always included. */
export function propertiesArg(
  args: Record<string, Json>,
  known: readonly string[],
  key = "properties",
  dynamic?: (name: string) => boolean,
): string[] {
  const props = args[key];
  if (props === undefined || props === null) return [...known];
  if (!Array.isArray(props) || !props.every((p) => typeof p === "string")) {
    throw invalidArguments(`"${key}" must be an array of strings or null`);
  }
  for (const p of props) {
    if (!known.includes(p) && !dynamic?.(p)) throw invalidArguments(`unknown property "${p}"`);
  }
  return key === "properties" && !props.includes("id") ? ["id", ...props] : props;
}

export function pick(obj: Record<string, Json>, properties: readonly string[]) {
  const out: Record<string, Json> = {};
  for (const p of properties) if (p in obj) out[p] = obj[p];
  return out;
}

const int = (v: unknown, name: string, min: number): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < min) {
    throw invalidArguments(`"${name}" must be an integer of at least ${min}`);
  }
  return v as number;
};

/** The non-negative `maxChanges` of /changes and /queryChanges (section 5.2: > 0 when given). */
export const maxChangesArg = (args: Record<string, Json>) => int(args.maxChanges, "maxChanges", 1);

/**
 * The window of a full, ordered result list (section 5.5). A negative position counts from the
 * end; an anchor replaces the position and a missing anchor is anchorNotFound.
 */
export function queryWindow<T extends string>(
  all: readonly T[],
  args: Record<string, Json>,
  defaultLimit: number,
) {
  const limit = int(args.limit, "limit", 0) ?? defaultLimit;
  let position: number;
  if (args.anchor !== undefined && args.anchor !== null) {
    const index = all.indexOf(args.anchor as T);
    if (index < 0) throw new MethodError("anchorNotFound", "the anchor is not in the results");
    const offset = args.anchorOffset ?? 0;
    if (!Number.isSafeInteger(offset)) throw invalidArguments('"anchorOffset" must be an integer');
    position = Math.max(0, index + offset);
  } else {
    const p = args.position ?? 0;
    if (!Number.isSafeInteger(p)) throw invalidArguments('"position" must be an integer');
    position = p < 0 ? Math.max(0, all.length + p) : p;
  }
  if (position > all.length) position = all.length;
  return {
    ids: all.slice(position, position + Math.min(limit, defaultLimit)),
    position,
    ...(args.calculateTotal === true ? { total: all.length } : {}),
    ...(limit > defaultLimit ? { limit: defaultLimit } : {}),
  };
}

/**
 * /queryChanges from the current results and the ids that changed since the old query state
 * (section 5.6): every changed id is removed and, where it is in the results now, added back at
 * its index, which turns any old list into the new one. Ids that were not in the old list may
 * appear in `removed`; the section allows that when the server cannot tell.
 */
export function queryChangesResponse(
  args: Record<string, Json>,
  states: { oldState: string; newState: string },
  current: readonly string[],
  changed: ReadonlySet<string>,
) {
  const maxChanges = maxChangesArg(args);
  const removed = [...changed];
  const added: { id: string; index: number }[] = [];
  for (let i = 0; i < current.length; i++) {
    if (changed.has(current[i])) added.push({ id: current[i], index: i });
    if (typeof args.upToId === "string" && current[i] === args.upToId) break;
  }
  // Section 5.6: more changes than the client would take is an error, not a partial answer.
  if (maxChanges !== undefined && removed.length + added.length > maxChanges) {
    throw new MethodError(
      "tooManyChanges",
      `${removed.length + added.length} changes, more than maxChanges ${maxChanges}`,
    );
  }
  return {
    accountId: args.accountId,
    oldQueryState: states.oldState,
    newQueryState: states.newState,
    ...(args.calculateTotal === true ? { total: current.length } : {}),
    removed,
    added,
  };
}

/** Section 5.3 `ifInState`: stateMismatch when the state moved on. */
export function checkIfInState(args: Record<string, Json>, state: string): void {
  if (args.ifInState !== undefined && args.ifInState !== null && args.ifInState !== state) {
    throw new MethodError("stateMismatch", "ifInState does not match the current state");
  }
}

/** The create/update/destroy maps of a /set, checked for shape and maxObjectsInSet. */
export function setArgs(ctx: Ctx, args: Record<string, Json>) {
  const create = args.create ?? {};
  const update = args.update ?? {};
  const destroy = args.destroy ?? [];
  const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isMap(create)) throw invalidArguments('"create" must be an object or null');
  if (!isMap(update)) throw invalidArguments('"update" must be an object or null');
  if (!Array.isArray(destroy) || !destroy.every((d) => typeof d === "string")) {
    throw invalidArguments('"destroy" must be an array of ids or null');
  }
  const count = Object.keys(create).length + Object.keys(update).length + destroy.length;
  if (count > ctx.limits.maxObjectsInSet) {
    throw new MethodError(
      "requestTooLarge",
      `at most ${ctx.limits.maxObjectsInSet} objects per set`,
    );
  }
  return {
    create: create as Record<string, Record<string, Json>>,
    update: update as Record<string, Record<string, Json>>,
    destroy: (destroy as string[]).map((d) => String(resolveId(ctx, d))),
  };
}

/**
 * Applies a PatchObject (section 5.3: "a/b/c" JSON pointers into the object) to a copy of
 * `current`; invalidPatch when a path does not lead through objects.
 */
export function applyPatch(current: Record<string, Json>, patch: Record<string, Json>) {
  const out = structuredClone(current);
  for (const [path, value] of Object.entries(patch)) {
    const tokens = path.split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
    let target: Record<string, Json> = out;
    for (let i = 0; i < tokens.length - 1; i++) {
      const next = target[tokens[i]];
      if (typeof next !== "object" || next === null || Array.isArray(next)) {
        if (i === 0 && tokens.length === 2 && (next === undefined || next === null)) {
          target[tokens[i]] = {};
          target = target[tokens[i]];
          continue;
        }
        return undefined;
      }
      target = next;
    }
    const last = tokens[tokens.length - 1];
    // A null at the top level is the value null; deeper it removes the key (keywords/$seen).
    if (value === null && tokens.length > 1) delete target[last];
    else target[last] = value;
  }
  return out;
}

/** What a /set collects per object (RFC 8620 section 5.3), answered with `response()`. */
export class SetOutcome {
  created: Record<string, Json> = {};
  notCreated: Record<string, SetError> = {};
  updated: Record<string, Json> = {};
  notUpdated: Record<string, SetError> = {};
  destroyed: string[] = [];
  notDestroyed: Record<string, SetError> = {};

  /** The /set response: empty maps and lists as null, as the section allows. */
  response(accountId: string, oldState: string, newState: string) {
    const orNull = (o: Record<string, Json>) => Object.keys(o).length ? o : null;
    return {
      accountId,
      oldState,
      newState,
      created: orNull(this.created),
      updated: orNull(this.updated),
      destroyed: this.destroyed.length ? this.destroyed : null,
      notCreated: orNull(this.notCreated),
      notUpdated: orNull(this.notUpdated),
      notDestroyed: orNull(this.notDestroyed),
    };
  }
}

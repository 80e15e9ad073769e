/**
 * Route groups built on their first request (issue 20, idle memory). Every route module builds
 * its zod schemas, OpenAPI definitions and handlers when it is mounted, and an idle server keeps
 * them all: the administration's, the templates', the Sieve editor's and the JMAP API's too,
 * which most servers answer a few times a day. A lazy group is a stand-in route on its paths
 * that imports the group's modules on the first request, builds them into a router of their own
 * and hands the request (and every later one) to it.
 *
 * The group's paths must be its own: no eagerly mounted route or middleware may answer them
 * (lazy_routes_test.ts checks each group against the app). The app's middleware runs first, as
 * before; what it put on the context (`requestId`, `clientIp`) goes along to the group's router.
 * `/openapi.json` still documents every operation: `document()` builds every group and adds its
 * definitions to the app's OpenAPI registry at the place the group is mounted (a group's routers
 * together, in their order).
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context, ExecutionContext, Hono } from "hono";
import { type AppEnv, newRouter } from "./router.ts";

/** A route module's router, whatever its environment (`app.route` takes any). */
// deno-lint-ignore no-explicit-any
type GroupRouter = Hono<any, any, any>;

export interface LazyGroup {
  /** Where the group's routers are mounted: "/v1" or "/". */
  mount: string;
  /** The paths the group answers (Hono patterns, mount included), no other route's. */
  paths: string[];
  /** Imports and builds the group's routers, in the order they are mounted. */
  load(): Promise<GroupRouter[]>;
}

interface Mounted {
  group: LazyGroup;
  /** The app's OpenAPI definitions mounted before the group. */
  at: number;
  router?: Promise<OpenAPIHono<AppEnv>>;
}

/** How the app's context reaches the group's router: its `env`, under this key. */
const CONTEXT = "posternLazyContext";

/** The OpenAPI registry's own list (zod-to-openapi's `OpenAPIRegistry._definitions`). */
function ownDefinitions(app: OpenAPIHono<AppEnv>): unknown[] {
  const own = (app.openAPIRegistry as unknown as { _definitions?: unknown[] })._definitions;
  if (!Array.isArray(own)) throw new Error("the OpenAPI registry has no list of definitions");
  return own;
}

/** The request's execution context, where the host gives one (Workers; not Deno or Bun). */
function executionContextOf(c: Context<AppEnv>): ExecutionContext | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined; // Hono throws when there is none
  }
}

/** Each app's lazy groups (tests reach them through the app `createApp` returns). */
const ofApp = new WeakMap<object, LazyRoutes>();

export class LazyRoutes {
  /** The lazy groups mounted on `app`, if any. */
  static of(app: object): LazyRoutes | undefined {
    return ofApp.get(app);
  }

  readonly #app: OpenAPIHono<AppEnv>;
  /** Gives a group's router the app's not-found and error handlers. */
  readonly #finish: (router: OpenAPIHono<AppEnv>) => void;
  readonly #mounted: Mounted[] = [];
  #documented?: Promise<void>;

  constructor(app: OpenAPIHono<AppEnv>, finish: (router: OpenAPIHono<AppEnv>) => void) {
    this.#app = app;
    this.#finish = finish;
    ofApp.set(app, this);
  }

  /** Mounts `group` here, in the app's order of routes and of OpenAPI definitions. */
  mount(group: LazyGroup): void {
    const mounted: Mounted = { group, at: ownDefinitions(this.#app).length };
    this.#mounted.push(mounted);
    // The group's router sees what the app's does: the host's env (a Worker's bindings) and its
    // execution context (waitUntil), plus the app middleware's variables.
    const handler = async (c: Context<AppEnv>) =>
      (await this.#router(mounted)).fetch(
        c.req.raw,
        { ...(c.env as object | undefined), [CONTEXT]: c.var },
        executionContextOf(c),
      );
    for (const path of group.paths) this.#app.all(path, handler);
  }

  /** The paths of every group's stand-in route. */
  paths(): string[] {
    return this.#mounted.flatMap((m) => m.group.paths);
  }

  /** Every group's router, built (tests: the routes each answers). */
  routers(): Promise<OpenAPIHono<AppEnv>[]> {
    return Promise.all(this.#mounted.map((m) => this.#router(m)));
  }

  /**
   * Builds every group and adds its OpenAPI definitions to the app's, where it is mounted.
   * Once: the document is complete from then on.
   */
  document(): Promise<void> {
    return this.#documented ??= this.routers().then((routers) => {
      const own = ownDefinitions(this.#app);
      // From the last: each insertion leaves the earlier places where they were.
      for (let i = this.#mounted.length - 1; i >= 0; i--) {
        own.splice(this.#mounted[i].at, 0, ...routers[i].openAPIRegistry.definitions);
      }
    }).catch((e) => {
      this.#documented = undefined;
      throw e;
    });
  }

  #router(mounted: Mounted): Promise<OpenAPIHono<AppEnv>> {
    return mounted.router ??= mounted.group.load().then((groupRouters) => {
      const router = newRouter();
      router.use("*", async (c, next) => {
        const context = (c.env as Record<string, AppEnv["Variables"]>)[CONTEXT];
        for (const [key, value] of Object.entries(context)) {
          c.set(key as keyof AppEnv["Variables"], value as never);
        }
        await next();
      });
      for (const r of groupRouters) router.route(mounted.group.mount, r);
      this.#finish(router);
      return router;
    }).catch((e) => {
      // A failed import is tried again by the next request.
      mounted.router = undefined;
      throw e;
    });
  }
}

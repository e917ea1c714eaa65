// Counts, per route, the Durable Object requests and D1 queries an isolate's requests make —
// behind the DIAGNOSTICS switch, for `npm run bench:scale` and operators. The bindings are
// wrapped for the request, so every caller is counted without knowing it.
import type { Env } from '../env.js';

export interface RouteCounts {
  requests: number;
  /** Calls on Durable Object stubs (RPC methods and fetch). */
  durableObject: number;
  /** D1 round trips: a statement's first/all/run/raw, a batch, an exec. */
  d1: number;
  /** Durable Object calls by object name (`shard-2`, `directory`; `?` for an unnamed id). */
  objects: Record<string, number>;
}

const counts = new Map<string, RouteCounts>();

/**
 * A request's route as counted: the method and the path with ids folded, so
 * `GET /v1/heads/head_0a1b…` and every other head id count together.
 *
 * @example
 * routeKey('POST', '/v1/fine-tunes/job_x1/cancel'); // 'POST /v1/fine-tunes/:id/cancel'
 */
export function routeKey(method: string, pathname: string): string {
  const path = pathname
    .split('/')
    .map((segment) =>
      /^(head|job|ds|batch|key|tnt|tenant|wt|adm)_[A-Za-z0-9_-]+$/.test(segment) ||
      /^[0-9a-f]{16,}$/.test(segment)
        ? ':id'
        : segment,
    )
    .join('/');
  return `${method} ${path}`;
}

function bucket(key: string): RouteCounts {
  let entry = counts.get(key);
  if (!entry) {
    entry = { requests: 0, durableObject: 0, d1: 0, objects: {} };
    counts.set(key, entry);
  }
  return entry;
}

function countingStatement(
  statement: D1PreparedStatement,
  entry: RouteCounts,
): D1PreparedStatement {
  return new Proxy(statement, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'bind')
        return (...args: unknown[]) =>
          countingStatement(
            (value as (...a: unknown[]) => D1PreparedStatement).apply(target, args),
            entry,
          );
      if (prop === 'first' || prop === 'all' || prop === 'run' || prop === 'raw')
        return (...args: unknown[]) => {
          entry.d1++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

function countingDb(db: D1Database, entry: RouteCounts): D1Database {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'prepare')
        return (query: string) => countingStatement(target.prepare(query), entry);
      if (prop === 'batch' || prop === 'exec')
        return (...args: unknown[]) => {
          entry.d1++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

function countingStub<T extends object>(stub: T, entry: RouteCounts, name: string): T {
  return new Proxy(stub, {
    get(target, prop) {
      // Read from the stub itself (a workerd RPC stub refuses a proxy as the receiver).
      const value: unknown = Reflect.get(target, prop);
      // An RPC stub answers every name with a method: only real calls count (not `then`, which
      // `await` looks up, nor symbols).
      if (typeof value !== 'function' || typeof prop !== 'string' || prop === 'then') return value;
      return (...args: unknown[]) => {
        entry.durableObject++;
        entry.objects[name] = (entry.objects[name] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown)(...args);
      };
    },
  });
}

function countingNamespace<N extends object>(ns: N, entry: RouteCounts): N {
  return new Proxy(ns, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'get')
        return (...args: unknown[]) =>
          countingStub(
            (value as (...a: unknown[]) => object).apply(target, args),
            entry,
            (args[0] as DurableObjectId | undefined)?.name ?? '?',
          );
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/**
 * `env` with DB, COORDINATOR and JOB_DIRECTORY counting into the route's entry (and the request
 * counted).
 *
 * @example
 * if (c.env.DIAGNOSTICS === 'true') c.env = countingEnv(c.env, routeKey(c.req.method, url.pathname));
 */
export function countingEnv(env: Env, key: string): Env {
  const entry = bucket(key);
  entry.requests++;
  const counted: Env = {
    ...env,
    DB: countingDb(env.DB, entry),
    COORDINATOR: countingNamespace(env.COORDINATOR, entry),
    JOB_DIRECTORY: countingNamespace(env.JOB_DIRECTORY, entry),
  };
  return counted;
}

/** Everything counted since the last reset, by route, with totals. */
export function countersSnapshot(): { routes: Record<string, RouteCounts>; total: RouteCounts } {
  const total: RouteCounts = { requests: 0, durableObject: 0, d1: 0, objects: {} };
  const routes: Record<string, RouteCounts> = {};
  for (const [key, entry] of counts) {
    routes[key] = { ...entry, objects: { ...entry.objects } };
    total.requests += entry.requests;
    total.durableObject += entry.durableObject;
    total.d1 += entry.d1;
    for (const [name, n] of Object.entries(entry.objects))
      total.objects[name] = (total.objects[name] ?? 0) + n;
  }
  return { routes, total };
}

export function resetCounters(): void {
  counts.clear();
}

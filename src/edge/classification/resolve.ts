// Turns the names in a request's `model` into targets: backbone ids stay public, head ids and
// aliases belong to the caller's tenant. A head id is a content address, so it resolves from R2
// alone (its manifest exists and names the caller's tenant): no Durable Object is asked, even
// the first time. Aliases are resolved by the coordinator in one read. Both answers are
// remembered by the isolate for RESOLVE_SECONDS (default 30), so steady traffic makes no
// Durable Object call. The rule: an alias moved or a head deleted through the API is seen at
// once by the isolate that handled the change, and within RESOLVE_SECONDS everywhere else.
import { HEAD_ID, AliasNameSchema, headKeys } from '../../shared/heads.js';
import { secondsVar, type Env } from '../env.js';
import { ApiError } from '../errors.js';
import { coordinatorOf } from '../jobs/shards.js';
import type { ModelTarget } from './classifier.js';
import { resolveBackboneRef } from './model-store.js';

type Answer = { headId: string } | { missing: string };

export const DEFAULT_RESOLVE_SECONDS = 30;
/** Answers one isolate keeps (the oldest go first). */
const MAX_ANSWERS = 10_000;
const answers = new Map<string, { answer: Answer; expires: number }>();
const inFlight = new Map<string, Promise<Answer[]>>();
/**
 * Bumped by every change this isolate makes: a lookup that started before a change may have read
 * the state before it, so its answers are used once but not remembered.
 */
let generation = 0;

const answerKey = (tenantId: string, ref: string) => `${tenantId}\n${ref}`;

/**
 * Forgets what this isolate remembers of a tenant's names after a change made here: a deleted
 * head (its id, and every alias that pointed at it) or a moved or deleted alias.
 */
export function forgetResolved(
  tenantId: string,
  change: { headId: string } | { alias: string },
): void {
  // Lookups already under way may have read the state before the change: none of them is
  // remembered, and no request from now on joins one.
  generation++;
  inFlight.clear();
  if ('alias' in change) {
    answers.delete(answerKey(tenantId, change.alias));
    return;
  }
  for (const [key, { answer }] of answers)
    if (
      key.startsWith(`${tenantId}\n`) &&
      (key === answerKey(tenantId, change.headId) ||
        ('headId' in answer && answer.headId === change.headId))
    )
      answers.delete(key);
}

/**
 * Fresh answers for `refs`, in order: head ids from R2 (a deleted head's files are gone), aliases
 * from the coordinator, which only answers with live heads.
 */
async function lookUp(env: Env, tenantId: string, refs: readonly string[]): Promise<Answer[]> {
  const aliases = refs.filter((ref) => !HEAD_ID.test(ref));
  const [byAlias, byId] = await Promise.all([
    aliases.length > 0 ? coordinatorOf(env, tenantId).resolveHeads(tenantId, aliases) : [],
    Promise.all(
      refs
        .filter((ref) => HEAD_ID.test(ref))
        .map(async (headId): Promise<Answer> => {
          const manifest = await env.MODELS.head(headKeys(headId).manifest);
          return manifest?.customMetadata?.tenantId === tenantId
            ? { headId }
            : { missing: `no head ${headId}` };
        }),
    ),
  ]);
  let alias = 0;
  let id = 0;
  return refs.map((ref) => (HEAD_ID.test(ref) ? byId[id++]! : byAlias[alias++]!));
}

/** Head ids and aliases to live heads: remembered answers first, R2 or the coordinator for the rest. */
async function resolveHeadRefs(
  env: Env,
  tenantId: string,
  refs: readonly string[],
): Promise<Answer[]> {
  const now = Date.now();
  const ttl = secondsVar(env.RESOLVE_SECONDS, DEFAULT_RESOLVE_SECONDS);
  const found = refs.map((ref) => {
    const known = ttl > 0 ? answers.get(answerKey(tenantId, ref)) : undefined;
    return known && known.expires > now ? known.answer : undefined;
  });
  const asking = refs.filter((_, i) => found[i] === undefined);
  if (asking.length === 0) return found as Answer[];
  // Requests asking the same names together share one coordinator call.
  const flight = `${tenantId}\n${asking.join(',')}`;
  const started = generation;
  let pending = ttl > 0 ? inFlight.get(flight) : undefined;
  if (!pending) {
    const lookup = lookUp(env, tenantId, asking);
    pending = lookup;
    if (ttl > 0) {
      inFlight.set(flight, lookup);
      void lookup
        .finally(() => {
          if (inFlight.get(flight) === lookup) inFlight.delete(flight);
        })
        .catch(() => undefined);
    }
  }
  const fresh = await pending;
  const remember = ttl > 0 && started === generation;
  let next = 0;
  return refs.map((ref, i) => {
    const known = found[i];
    if (known) return known;
    const answer = fresh[next++]!;
    if (remember) {
      const key = answerKey(tenantId, ref);
      answers.delete(key);
      answers.set(key, { answer, expires: now + ttl });
      if (answers.size > MAX_ANSWERS) answers.delete(answers.keys().next().value!);
    }
    return answer;
  });
}

/**
 * @example
 * const targets = await resolveModels(env, ['mobilenet-v1-0.25', 'production'], tenantId, 'query.model');
 */
export async function resolveModels(
  env: Env,
  refs: readonly string[],
  tenantId: string | undefined,
  field: string,
): Promise<ModelTarget[]> {
  // A backbone the caller may use (its own first, then the catalogue's) wins over an alias of
  // the same name; names with a dot (versioned backbone ids) or not shaped like an alias can
  // only be backbones.
  const remember = secondsVar(env.RESOLVE_SECONDS, DEFAULT_RESOLVE_SECONDS);
  const backbones = await Promise.all(
    refs.map(async (ref) =>
      HEAD_ID.test(ref) ? undefined : await resolveBackboneRef(env.MODELS, tenantId, ref, remember),
    ),
  );
  const kinds = refs.map((ref, i) =>
    HEAD_ID.test(ref)
      ? 'head'
      : backbones[i] !== undefined || !AliasNameSchema.safeParse(ref).success
        ? 'backbone'
        : 'head',
  );
  const headRefs = refs.filter((_, i) => kinds[i] === 'head');
  let resolved: Answer[] = [];
  if (headRefs.length > 0) {
    if (!tenantId) {
      const ref = headRefs[0]!;
      if (HEAD_ID.test(ref))
        throw new ApiError(
          'unauthorized',
          `${ref} is a trained head; send the API key of its tenant ("Authorization: Bearer hs_key_…")`,
          'header.authorization',
          { 'www-authenticate': 'Bearer realm="headstart"' },
        );
      throw new ApiError(
        'not_found',
        `no backbone named "${ref}" (GET /v1/models lists them); to use an alias, send your API key`,
        field,
      );
    }
    resolved = await resolveHeadRefs(env, tenantId, headRefs);
  }
  let next = 0;
  return refs.map((ref, i): ModelTarget => {
    if (kinds[i] === 'backbone') {
      const backboneId = backbones[i];
      if (backboneId === undefined)
        throw new ApiError(
          'not_found',
          `no model named "${ref}"; GET /v1/models lists them, GET /v1/backbones adds your own`,
          field,
        );
      return { kind: 'backbone', ref, backboneId };
    }
    const answer = resolved[next++]!;
    if ('missing' in answer)
      throw new ApiError(
        'not_found',
        `${answer.missing}; GET /v1/models lists backbones, GET /v1/heads your heads`,
        field,
      );
    return { kind: 'head', ref, headId: answer.headId };
  });
}

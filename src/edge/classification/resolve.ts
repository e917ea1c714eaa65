// Turns the names in a request's `model` into targets: backbone ids stay public, head ids and
// aliases belong to the caller's tenant and are resolved by the coordinator in one read.
import { HEAD_ID, AliasNameSchema } from '../../shared/heads.js';
import type { Env } from '../env.js';
import { ApiError } from '../errors.js';
import { coordinatorOf } from '../jobs/service.js';
import type { ModelTarget } from './classifier.js';
import { getBackboneManifest } from './model-store.js';

async function isBackbone(bucket: R2Bucket, ref: string): Promise<boolean> {
  try {
    await getBackboneManifest(bucket, ref);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'not_found') return false;
    throw err;
  }
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
  // Names with a dot (versioned backbone ids) or not shaped like an alias can only be backbones.
  const kinds = await Promise.all(
    refs.map(async (ref) =>
      HEAD_ID.test(ref)
        ? 'head'
        : !AliasNameSchema.safeParse(ref).success || (await isBackbone(env.MODELS, ref))
          ? 'backbone'
          : 'head',
    ),
  );
  const headRefs = refs.filter((_, i) => kinds[i] === 'head');
  let resolved: ({ headId: string } | { missing: string })[] = [];
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
    resolved = await coordinatorOf(env).resolveHeads(tenantId, headRefs);
  }
  let next = 0;
  return refs.map((ref, i): ModelTarget => {
    if (kinds[i] === 'backbone') return { kind: 'backbone', ref, backboneId: ref };
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

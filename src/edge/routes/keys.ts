// A tenant's own API keys (`/v1/keys`): list them (never the secrets), make a new one (its secret
// shown once), revoke one — so keys rotate without an operator. The last active key is kept
// unless the request says it means it (`?confirm=last-key`).
import { Hono } from 'hono';
import { z } from 'zod';
import { requireTenant } from '../auth/middleware.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { readJson } from '../http/json.js';
import { parseInput } from '../http/validate.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../../shared/tenants.js';
import { forgetKeyVerdicts } from '../auth/verdicts.js';
import { CredentialNameSchema } from './admin.js';

const KeyId = z.string().regex(/^key_[A-Za-z0-9_-]{8,64}$/, 'a key id such as key_…');
const RevokeQuery = z.object({ confirm: z.literal('last-key').optional() }).strict();

export const keysRoutes = new Hono<AppEnv>()
  .use('*', requireTenant)
  .get('/', async (c) => {
    const keys = await listApiKeys(c.env.DB, c.get('tenantId'));
    return c.json({ keys: keys.map((k) => ({ ...k, current: k.id === c.get('keyId') })) });
  })
  .post('/', async (c) => {
    const { name } = parseInput(
      z.object({ name: CredentialNameSchema }).strict(),
      await readJson(c.req.raw),
      'body',
    );
    const { keyId, apiKey } = await createApiKey(c.env.DB, c.get('tenantId'), name);
    return c.json({ id: keyId, name, apiKey }, 201);
  })
  .delete('/:id', async (c) => {
    const keyId = parseInput(KeyId, c.req.param('id'), 'path.id');
    const { confirm } = parseInput(RevokeQuery, c.req.query(), 'query');
    const tenantId = c.get('tenantId');
    const active = (await listApiKeys(c.env.DB, tenantId)).filter((k) => k.revokedAt === null);
    if (!active.some((k) => k.id === keyId))
      throw new ApiError('not_found', `no active key ${keyId}`, 'path.id');
    if (active.length === 1 && confirm !== 'last-key')
      throw new ApiError(
        'conflict',
        `${keyId} is your last active key: revoking it locks you out until an operator issues a new one. Create another key first, or add ?confirm=last-key`,
        'path.id',
      );
    await revokeApiKey(c.env.DB, tenantId, keyId);
    forgetKeyVerdicts({ keyId });
    return c.body(null, 204);
  });

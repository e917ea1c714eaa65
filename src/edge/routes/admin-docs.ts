// The admin API and a tenant's own keys in the OpenAPI document. The admin part has its own tag
// and security scheme (admin tokens); a test checks every documented path is routed.
import { z, type RouteConfig } from '@hono/zod-openapi';
import { API_KEY_SECURITY, docJson as json, docProblem as problem } from '../docs/openapi.js';

/** Routes that need an admin token (the `adminToken` bearer scheme registered in app.ts). */
export const ADMIN_SECURITY = [{ adminToken: [] }];

const Name = z.object({ name: z.string().min(1).max(100) });
const TenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  disabledAt: z.string().nullable(),
  activeKeys: z.number().int(),
});
const KeySchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().openapi({ description: 'To the hour' }),
  revokedAt: z.string().nullable(),
});
const NewKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  apiKey: z.string().openapi({ description: 'The secret: shown this once, stored only hashed' }),
});
const tenantId = z.object({ id: z.string().openapi({ example: 'ten_…' }) });
const refused = {
  400: problem('A bad field (named in `field`)'),
  401: problem('No admin token, or a tenant key or worker token instead'),
};

const admin = (route: Omit<RouteConfig, 'tags' | 'security'>): RouteConfig => ({
  ...route,
  tags: ['admin'],
  security: ADMIN_SECURITY,
});

export const ADMIN_API_DOCS: RouteConfig[] = [
  admin({
    method: 'post',
    path: '/admin/v1/tenants',
    summary: 'Create a tenant and its first API key',
    request: {
      body: {
        required: true,
        content: {
          'application/json': { schema: Name.extend({ keyName: z.string().optional() }) },
        },
      },
    },
    responses: {
      201: json(
        'The tenant and its first key (secret shown once)',
        z.object({ tenant: TenantSchema, key: z.object({ id: z.string(), apiKey: z.string() }) }),
      ),
      ...refused,
    },
  }),
  admin({
    method: 'get',
    path: '/admin/v1/tenants',
    summary: 'Every tenant, newest first',
    responses: { 200: json('Tenants', z.object({ tenants: z.array(TenantSchema) })), ...refused },
  }),
  admin({
    method: 'get',
    path: '/admin/v1/tenants/{id}',
    summary: 'One tenant',
    request: { params: tenantId },
    responses: {
      200: json('The tenant', TenantSchema),
      404: problem('No such tenant'),
      ...refused,
    },
  }),
  admin({
    method: 'post',
    path: '/admin/v1/tenants/{id}/disable',
    summary: 'Disable a tenant: its keys stop working at once (nothing is deleted)',
    request: { params: tenantId },
    responses: {
      200: json('The tenant', TenantSchema),
      404: problem('No such tenant'),
      ...refused,
    },
  }),
  admin({
    method: 'post',
    path: '/admin/v1/tenants/{id}/enable',
    summary: 'Enable a disabled tenant again',
    request: { params: tenantId },
    responses: {
      200: json('The tenant', TenantSchema),
      404: problem('No such tenant'),
      ...refused,
    },
  }),
  admin({
    method: 'get',
    path: '/admin/v1/tenants/{id}/usage',
    summary: 'A tenant’s datasets, jobs by status, heads and requests over the last day',
    request: { params: tenantId },
    responses: {
      200: json(
        'Usage',
        z.object({
          tenantId: z.string(),
          datasets: z.number().int(),
          jobs: z.record(z.string(), z.number().int()),
          heads: z.number().int(),
          requestsLastDay: z.number().int(),
        }),
      ),
      404: problem('No such tenant'),
      ...refused,
    },
  }),
  admin({
    method: 'get',
    path: '/admin/v1/tenants/{id}/keys',
    summary: 'A tenant’s API keys (never their secrets)',
    request: { params: tenantId },
    responses: {
      200: json('Keys', z.object({ keys: z.array(KeySchema) })),
      404: problem('No such tenant'),
      ...refused,
    },
  }),
  admin({
    method: 'post',
    path: '/admin/v1/tenants/{id}/keys',
    summary: 'Issue an API key to a tenant',
    request: {
      params: tenantId,
      body: { required: true, content: { 'application/json': { schema: Name } } },
    },
    responses: {
      201: json('The key (secret shown once)', NewKeySchema),
      404: problem('No such tenant'),
      ...refused,
    },
  }),
  admin({
    method: 'delete',
    path: '/admin/v1/tenants/{id}/keys/{keyId}',
    summary: 'Revoke one of a tenant’s API keys',
    request: { params: tenantId.extend({ keyId: z.string() }) },
    responses: { 204: { description: 'Revoked' }, 404: problem('No such active key'), ...refused },
  }),
  admin({
    method: 'get',
    path: '/admin/v1/worker-tokens',
    summary: 'Worker tokens (never their secrets)',
    responses: {
      200: json(
        'Worker tokens',
        z.object({
          workerTokens: z.array(
            z.object({
              id: z.string(),
              name: z.string(),
              createdAt: z.string(),
              revokedAt: z.string().nullable(),
            }),
          ),
        }),
      ),
      ...refused,
    },
  }),
  admin({
    method: 'post',
    path: '/admin/v1/worker-tokens',
    summary: 'Issue a worker token (the internal API only)',
    request: { body: { required: true, content: { 'application/json': { schema: Name } } } },
    responses: {
      201: json(
        'The token (secret shown once)',
        z.object({ id: z.string(), name: z.string(), token: z.string() }),
      ),
      ...refused,
    },
  }),
  admin({
    method: 'delete',
    path: '/admin/v1/worker-tokens/{id}',
    summary: 'Revoke a worker token: its next request is refused',
    request: { params: z.object({ id: z.string() }) },
    responses: {
      204: { description: 'Revoked' },
      404: problem('No such active token'),
      ...refused,
    },
  }),
  admin({
    method: 'get',
    path: '/admin/v1/workers',
    summary: 'Workers that have asked for work: token name, provider, jobs held, last seen',
    responses: {
      200: json(
        'Workers',
        z.object({
          workers: z.array(
            z.object({
              workerId: z.string(),
              tokenName: z.string(),
              provider: z.string().nullable(),
              jobsHeld: z.number().int(),
              lastSeenAt: z.string(),
            }),
          ),
        }),
      ),
      ...refused,
    },
  }),
];

export const KEYS_API_DOCS: RouteConfig[] = [
  {
    method: 'get',
    path: '/v1/keys',
    tags: ['keys'],
    security: API_KEY_SECURITY,
    summary: 'Your API keys (never their secrets); `current` marks the one you called with',
    responses: {
      200: json('Keys', z.object({ keys: z.array(KeySchema.extend({ current: z.boolean() })) })),
      401: problem('No valid API key'),
    },
  },
  {
    method: 'post',
    path: '/v1/keys',
    tags: ['keys'],
    security: API_KEY_SECURITY,
    summary: 'Create another API key (rotate: create, switch, revoke the old one)',
    request: { body: { required: true, content: { 'application/json': { schema: Name } } } },
    responses: {
      201: json('The key (secret shown once)', NewKeySchema),
      400: problem('A bad name'),
      401: problem('No valid API key'),
    },
  },
  {
    method: 'delete',
    path: '/v1/keys/{id}',
    tags: ['keys'],
    security: API_KEY_SECURITY,
    summary: 'Revoke one of your keys (your last active key only with ?confirm=last-key)',
    request: {
      params: z.object({ id: z.string() }),
      query: z.object({ confirm: z.literal('last-key').optional() }),
    },
    responses: {
      204: { description: 'Revoked' },
      401: problem('No valid API key'),
      404: problem('No such active key'),
      409: problem('It is your last active key, and ?confirm=last-key is missing'),
    },
  },
];

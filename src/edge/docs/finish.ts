// The last touches on the generated OpenAPI document, in one place: the server it is served from,
// a stable operationId for every operation (what generated clients name their methods; the CLI's
// route names where it has them), who may call each public operation, and the 401 that every
// operation needing a credential can answer.

type Operation = {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses?: Record<string, unknown>;
};
type Document = {
  servers?: { url: string; description?: string }[];
  info: object;
  paths?: object;
};

/** `METHOD path` → operationId. An operation missing here fails the OpenAPI tests. */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'GET /v1/models': 'listModels',
  'GET /v1/models/{id}': 'getModel',
  'POST /v1/classify': 'classify',
  'POST /v1/classify/batch': 'classifyBatch',
  'POST /v1/datasets': 'uploadDataset',
  'GET /v1/datasets': 'listDatasets',
  'GET /v1/datasets/{id}': 'getDataset',
  'GET /v1/datasets/{id}/images': 'listDatasetImages',
  'GET /v1/datasets/{id}/images/{sha256}': 'getDatasetImage',
  'DELETE /v1/datasets/{id}': 'deleteDataset',
  'POST /v1/fine-tunes': 'submitJob',
  'GET /v1/fine-tunes': 'listJobs',
  'POST /v1/fine-tunes/batch': 'submitBatch',
  'GET /v1/fine-tunes/{id}': 'getJob',
  'GET /v1/fine-tunes/{id}/events': 'jobEvents',
  'POST /v1/fine-tunes/{id}/cancel': 'cancelJob',
  'GET /v1/batches/{id}': 'getBatch',
  'GET /v1/heads': 'listHeads',
  'GET /v1/heads/{id}': 'getHead',
  'DELETE /v1/heads/{id}': 'deleteHead',
  'GET /v1/heads/{id}/evaluation': 'getHeadEvaluation',
  'GET /v1/heads/{id}/download': 'downloadHead',
  'GET /v1/aliases': 'listAliases',
  'GET /v1/aliases/{name}': 'getAlias',
  'PUT /v1/aliases/{name}': 'setAlias',
  'DELETE /v1/aliases/{name}': 'deleteAlias',
  'POST /v1/backbones': 'importBackbone',
  'GET /v1/backbones': 'listBackbones',
  'GET /v1/backbones/{name}': 'getBackbone',
  'DELETE /v1/backbones/{name}': 'deleteBackbone',
  'GET /v1/keys': 'listKeys',
  'POST /v1/keys': 'createKey',
  'DELETE /v1/keys/{id}': 'revokeKey',
  'POST /admin/v1/tenants': 'adminCreateTenant',
  'GET /admin/v1/tenants': 'adminListTenants',
  'GET /admin/v1/tenants/{id}': 'adminGetTenant',
  'POST /admin/v1/tenants/{id}/disable': 'adminDisableTenant',
  'POST /admin/v1/tenants/{id}/enable': 'adminEnableTenant',
  'GET /admin/v1/tenants/{id}/usage': 'adminUsage',
  'GET /admin/v1/tenants/{id}/keys': 'adminListKeys',
  'POST /admin/v1/tenants/{id}/keys': 'adminIssueKey',
  'DELETE /admin/v1/tenants/{id}/keys/{keyId}': 'adminRevokeKey',
  'GET /admin/v1/worker-tokens': 'adminListWorkerTokens',
  'POST /admin/v1/worker-tokens': 'adminIssueWorkerToken',
  'DELETE /admin/v1/worker-tokens/{id}': 'adminRevokeWorkerToken',
  'GET /admin/v1/workers': 'adminWorkers',
};

/**
 * Operations open to everyone: `[]` needs no credential; `[{}, { apiKey: [] }]` takes a key when
 * one is sent (classifying with a head needs its tenant's key, with a backbone nothing).
 */
const PUBLIC_SECURITY: Readonly<Record<string, Record<string, string[]>[]>> = {
  'GET /v1/models': [],
  'GET /v1/models/{id}': [],
  'POST /v1/classify': [{}, { apiKey: [] }],
  'POST /v1/classify/batch': [{}, { apiKey: [] }],
};

const UNAUTHORIZED = {
  description: 'No credential, or one that is unknown, revoked or of the wrong kind',
  content: {
    'application/problem+json': {
      schema: {
        type: 'object',
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          code: { type: 'string' },
          requestId: { type: 'string' },
        },
        required: ['type', 'title', 'status', 'detail', 'code', 'requestId'],
      },
    },
  },
};

/**
 * Completes `doc` (generated once per isolate) for a request to `origin`; returns a new document.
 *
 * @example
 * app.get('/openapi.json', (c) => c.json(finishDocument(app.getOpenAPI31Document(config), origin)));
 */
export function finishDocument<D extends Document>(doc: D, origin: string): D {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const [path, operations] of Object.entries(
    (doc.paths ?? {}) as Record<string, Record<string, Operation>>,
  )) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(operations)) {
      const key = `${method.toUpperCase()} ${path}`;
      const security = operation.security ?? PUBLIC_SECURITY[key];
      const needsCredential =
        (security ?? []).length > 0 && !security?.some((s) => !Object.keys(s).length);
      const responses = { ...operation.responses };
      if (needsCredential && !responses['401']) responses['401'] = UNAUTHORIZED;
      paths[path][method] = {
        ...operation,
        ...(OPERATION_IDS[key] ? { operationId: OPERATION_IDS[key] } : {}),
        ...(security ? { security } : {}),
        responses,
      };
    }
  }
  return {
    ...doc,
    info: {
      ...doc.info,
      license: { name: 'Proprietary', identifier: 'LicenseRef-Headstart' },
    },
    servers: [{ url: origin, description: 'this edge' }],
    paths,
  };
}

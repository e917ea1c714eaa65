// Hostile requests to the heads and aliases APIs: another tenant's heads and aliases, ids and
// names that are paths, deleting what an alias pins, bad download options and alias bodies.
import {
  forgedKey,
  nestedArrays,
  request,
  type HostileCase,
  type RequestOptions,
} from './corpus.js';
import type { World } from './world.js';

/** A request as tenant A. */
const asA =
  (path: (w: World) => string, opts: (w: World) => RequestOptions = () => ({})) =>
  (w: World) =>
    request(path(w), { key: w.a.apiKey, ...opts(w) });

const put = (json: (w: World) => unknown) => (w: World) => ({ method: 'PUT', json: json(w) });

export const HEAD_CASES: HostileCase[] = [
  {
    area: 'heads',
    name: "reading another tenant's head",
    request: asA((w) => `/v1/heads/${w.headB}`),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: "downloading another tenant's head",
    request: asA((w) => `/v1/heads/${w.headB}/download?backbone=true`),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: "downloading one file of another tenant's head",
    request: asA((w) => `/v1/heads/${w.headB}/download?file=model.onnx`),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: "reading another tenant's head evaluation",
    request: asA((w) => `/v1/heads/${w.headB}/evaluation`),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: "deleting another tenant's head",
    request: asA(
      (w) => `/v1/heads/${w.headB}`,
      () => ({ method: 'DELETE' }),
    ),
    code: 'not_found',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: 'deleting a head an alias still points at',
    request: asA(
      (w) => `/v1/heads/${w.headA}`,
      () => ({ method: 'DELETE' }),
    ),
    code: 'conflict',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: 'a head id that is a traversal path',
    request: asA(
      () => `/v1/heads/${encodeURIComponent('../backbones/mobilenet-v2-0.35')}/download`,
    ),
    code: 'invalid_request',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: 'deleting a head id with a wildcard',
    request: asA(
      () => '/v1/heads/head_%2A',
      () => ({ method: 'DELETE' }),
    ),
    code: 'invalid_request',
    field: 'path.id',
  },
  {
    area: 'heads',
    name: 'downloading file=../../manifest.json',
    request: asA(
      (w) => `/v1/heads/${w.headA}/download?file=${encodeURIComponent('../../manifest.json')}`,
    ),
    code: 'invalid_request',
    field: 'query.file',
  },
  {
    area: 'heads',
    name: 'downloading with backbone=yes',
    request: asA((w) => `/v1/heads/${w.headA}/download?backbone=yes`),
    code: 'invalid_request',
    field: 'query.backbone',
  },
  {
    area: 'heads',
    name: 'listing with limit=0',
    request: asA(() => '/v1/heads?limit=0'),
    code: 'invalid_request',
    field: 'query.limit',
  },
  {
    area: 'heads',
    name: 'listing with a negative cursor',
    request: asA(() => '/v1/heads?cursor=-1'),
    code: 'invalid_request',
    field: 'query.cursor',
  },
  {
    area: 'heads',
    name: 'listing without a key',
    request: () => request('/v1/heads'),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'heads',
    name: 'listing with a forged key',
    request: () => request('/v1/heads', { key: forgedKey('hs_key') }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  // Aliases.
  {
    area: 'heads',
    name: "pointing an alias at another tenant's head",
    request: asA(
      (w) => `/v1/aliases/${w.aliasA}`,
      put((w) => ({ headId: w.headB })),
    ),
    code: 'not_found',
    field: 'body.headId',
  },
  {
    area: 'heads',
    name: "taking another tenant's alias name for their head",
    request: asA(
      (w) => `/v1/aliases/${w.aliasB}`,
      put((w) => ({ headId: w.headB })),
    ),
    code: 'not_found',
    field: 'body.headId',
  },
  {
    area: 'heads',
    name: "reading another tenant's alias",
    request: asA((w) => `/v1/aliases/${w.aliasB}`),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'heads',
    name: "deleting another tenant's alias",
    request: asA(
      (w) => `/v1/aliases/${w.aliasB}`,
      () => ({ method: 'DELETE' }),
    ),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'heads',
    name: 'an alias name with capitals and punctuation',
    request: asA(
      () => '/v1/aliases/Prod!',
      put((w) => ({ headId: w.headA })),
    ),
    code: 'invalid_request',
    field: 'path.name',
  },
  {
    area: 'heads',
    name: 'an alias name that is a traversal path',
    request: asA(
      () => `/v1/aliases/${encodeURIComponent('../heads')}`,
      put((w) => ({ headId: w.headA })),
    ),
    code: 'invalid_request',
    field: 'path.name',
  },
  {
    area: 'heads',
    name: 'a 49-character alias name',
    request: asA(
      () => `/v1/aliases/${'a'.repeat(49)}`,
      put((w) => ({ headId: w.headA })),
    ),
    code: 'invalid_request',
    field: 'path.name',
  },
  {
    area: 'heads',
    name: 'an alias body with a malformed head id',
    request: asA(
      (w) => `/v1/aliases/${w.aliasA}`,
      put(() => ({ headId: 'head_../../x' })),
    ),
    code: 'invalid_request',
    field: 'body.headId',
  },
  {
    area: 'heads',
    name: 'an alias body without a head id',
    request: asA(
      (w) => `/v1/aliases/${w.aliasA}`,
      put(() => ({})),
    ),
    code: 'invalid_request',
    field: 'body.headId',
  },
  {
    area: 'heads',
    name: 'an alias body as text/plain',
    request: asA(
      (w) => `/v1/aliases/${w.aliasA}`,
      (w) => ({ method: 'PUT', headers: { 'content-type': 'text/plain' }, body: w.headB }),
    ),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'heads',
    name: 'an alias body nested 10000 levels deep',
    request: asA(
      (w) => `/v1/aliases/${w.aliasA}`,
      () => ({ method: 'PUT', rawJson: nestedArrays(10_000) }),
    ),
    code: 'invalid_request',
    field: 'body',
  },
];

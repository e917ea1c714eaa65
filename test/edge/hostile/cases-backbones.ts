// Hostile requests to the tenant backbones API: files that are not ONNX or are truncated, weights
// kept outside the file, operators the edge cannot run, cards that disagree with the graph or are
// malformed, models that trial-run to NaN, uploads over 32 MB (streamed and declared), ids taken
// by the catalogue or already the tenant's, another tenant's backbones by name and by full
// reference, deleting a catalogue backbone or one a head still uses.
import { BACKBONE_UPLOAD_MAX_BYTES } from '../../../src/edge/routes/backbones.js';
import { MAX_BACKBONE_BYTES } from '../../../src/shared/onnx-import.js';
import { oddNode, tinyCardJson, tinyModel } from '../../support/tiny-backbone.js';
import { forgedKey, form, request, streamOf, type HostileCase } from './corpus.js';
import { TINY_A, TINY_B, V1, type World } from './world.js';

const LABELS5 = ['a', 'b', 'c', 'd', 'e'];
const MULTIPART = 'multipart/form-data; boundary=hostile-corpus';

/** The world's tiny backbone refs: `{tenantId}/{name}`. */
const refOfB = (w: World) => `${w.b.tenantId}/${TINY_B}`;
const refOfA = (w: World) => `${w.a.tenantId}/${TINY_A}`;

/** A card for the tiny model under an id nobody has, with `extra` merged in. */
const card = (extra: Record<string, unknown> = {}) =>
  JSON.stringify(tinyCardJson({ id: 'hostile-tiny', ...extra }));

/** POST /v1/backbones as tenant A with these form fields. */
const upload =
  (fields: (w: World) => Record<string, string | Uint8Array>) =>
  (w: World): Request =>
    request('/v1/backbones', { key: w.a.apiKey, body: form(fields(w)) });

/** An import of `model` with `cardJson` refused with `code`, naming `field`. */
const refusedImport = (
  name: string,
  model: () => Uint8Array,
  cardJson: string,
  code: HostileCase['code'],
  field: string,
): HostileCase => ({
  area: 'backbones',
  name,
  request: upload(() => ({ model: model(), card: cardJson })),
  code,
  field,
});

/** A request as tenant A to /v1/backbones/{name}. */
const asA =
  (name: (w: World) => string, method = 'GET') =>
  (w: World): Request =>
    request(`/v1/backbones/${name(w)}`, { key: w.a.apiKey, method });

export const BACKBONE_CASES: HostileCase[] = [
  // The model file.
  refusedImport(
    'a model that is not ONNX (an HTML page)',
    () => new TextEncoder().encode('<html>not a model</html>'),
    card(),
    'invalid_model',
    'form.model',
  ),
  refusedImport(
    'a truncated ONNX model',
    () => tinyModel().slice(0, 300),
    card(),
    'invalid_model',
    'form.model',
  ),
  refusedImport(
    'an empty model file',
    () => new Uint8Array(0),
    card(),
    'invalid_model',
    'form.model',
  ),
  refusedImport(
    'a tensor whose data is in an external file',
    () => tinyModel({ externalData: true }),
    card(),
    'external_data',
    'form.model',
  ),
  refusedImport(
    'an operator from a custom domain',
    () => tinyModel({ extraNode: oddNode('Frobnicate', 'com.example') }),
    card(),
    'unsupported_operator',
    'form.model',
  ),
  refusedImport(
    'an operator onnxruntime-web does not have',
    () => tinyModel({ extraNode: oddNode('NoSuchOp') }),
    card(),
    'unsupported_operator',
    'form.model',
  ),
  // The card against the graph.
  refusedImport(
    'a card naming a logits output the graph lacks',
    () => tinyModel(),
    card({ outputs: { logits: 'output', labels: LABELS5 } }),
    'invalid_card',
    'form.card.outputs.logits',
  ),
  refusedImport(
    'a card naming an embedding tensor the graph lacks',
    () => tinyModel(),
    card({ outputs: { embedding: 'features' } }),
    'invalid_card',
    'form.card.outputs.embedding',
  ),
  refusedImport(
    'a card naming an input the graph lacks',
    () => tinyModel(),
    card({ input: 'pixels' }),
    'invalid_card',
    'form.card.input',
  ),
  refusedImport(
    'an input that is not an image tensor: [N, 3072]',
    () => tinyModel({ inputDims: ['N', 3072] }),
    card(),
    'invalid_model',
    'form.card.input',
  ),
  refusedImport(
    "input dims [N, 3, 48, 48] disagreeing with the card's 32×32 crop",
    () => tinyModel({ inputDims: ['N', 3, 48, 48] }),
    card(),
    'invalid_card',
    'form.card.input',
  ),
  refusedImport(
    'a fixed batch of 8',
    () => tinyModel({ inputDims: [8, 3, 32, 32] }),
    card(),
    'invalid_model',
    'form.card.input',
  ),
  refusedImport(
    'a trial run that yields NaN',
    () => tinyModel({ weight: Number.NaN }),
    card(),
    'trial_run_failed',
    'form.card.outputs.embedding',
  ),
  refusedImport(
    'two labels for five logits',
    () => tinyModel(),
    card({ outputs: { logits: 'scores', labels: ['x', 'y'] } }),
    'trial_run_failed',
    'form.card.outputs.logits',
  ),
  // Size.
  {
    area: 'backbones',
    name: 'an upload streamed without a Content-Length, past the 32 MB limit',
    request: (w) =>
      request('/v1/backbones', {
        key: w.a.apiKey,
        headers: { 'content-type': MULTIPART },
        body: streamOf(BACKBONE_UPLOAD_MAX_BYTES + 1),
      }),
    code: 'model_too_large',
    field: 'form.model',
  },
  {
    area: 'backbones',
    name: 'a Content-Length declaring 100 MB',
    request: (w) =>
      request('/v1/backbones', {
        key: w.a.apiKey,
        headers: { 'content-type': MULTIPART, 'content-length': String(100 * 2 ** 20) },
        body: streamOf(2 ** 20),
      }),
    code: 'model_too_large',
    field: 'form.model',
  },
  {
    area: 'backbones',
    name: 'a body over the upload limit with its true Content-Length',
    request: (w) =>
      request('/v1/backbones', {
        key: w.a.apiKey,
        headers: { 'content-type': MULTIPART },
        body: new Uint8Array(BACKBONE_UPLOAD_MAX_BYTES + 1),
      }),
    code: 'model_too_large',
    field: 'form.model',
  },
  {
    area: 'backbones',
    name: 'a model file one byte over 32 MB in a body under the upload limit',
    request: upload(() => ({ model: new Uint8Array(MAX_BACKBONE_BYTES + 1), card: card() })),
    code: 'model_too_large',
    field: 'form.model',
  },
  // The card itself.
  refusedImport(
    'a card that is not JSON',
    () => tinyModel(),
    '{"id": "x",',
    'invalid_request',
    'form.card',
  ),
  refusedImport(
    'a card that is JSON null',
    () => tinyModel(),
    'null',
    'invalid_request',
    'form.card',
  ),
  refusedImport(
    'a card missing its displayName',
    () => tinyModel(),
    JSON.stringify(
      Object.fromEntries(
        Object.entries(tinyCardJson({ id: 'hostile-tiny' })).filter(([k]) => k !== 'displayName'),
      ),
    ),
    'invalid_request',
    'form.card.displayName',
  ),
  refusedImport(
    'a card with an unknown field',
    () => tinyModel(),
    card({ colour: 'blue' }),
    'invalid_request',
    'form.card.colour',
  ),
  refusedImport(
    'a card with logits but no labels',
    () => tinyModel(),
    card({ outputs: { logits: 'scores' } }),
    'invalid_request',
    'form.card.outputs.labels',
  ),
  refusedImport(
    'a card whose crop is larger than its resize',
    () => tinyModel(),
    card({
      preprocessing: {
        ...tinyCardJson().preprocessing,
        crop: { width: 64, height: 64 },
      },
    }),
    'invalid_request',
    'form.card.preprocessing.crop',
  ),
  refusedImport(
    'a card id that is a traversal path',
    () => tinyModel(),
    card({ id: '../../backbones/mobilenet-v1-0.25' }),
    'invalid_request',
    'form.card.id',
  ),
  {
    area: 'backbones',
    name: "a card id that is another tenant's full reference",
    request: upload((w) => ({ model: tinyModel(), card: card({ id: refOfB(w) }) })),
    code: 'invalid_request',
    field: 'form.card.id',
  },
  {
    area: 'backbones',
    name: 'a card over 256 KB',
    request: upload(() => ({
      model: tinyModel(),
      card: card({ origin: 'x'.repeat(256 * 1024) }),
    })),
    code: 'invalid_request',
    field: 'form.card',
  },
  {
    area: 'backbones',
    name: 'a card file that is not JSON',
    request: upload(() => ({
      model: tinyModel(),
      card: new TextEncoder().encode('id: hostile-tiny\n'),
    })),
    code: 'invalid_request',
    field: 'form.card',
  },
  // Ids already taken.
  refusedImport(
    "a card with a catalogue backbone's id",
    () => tinyModel(),
    card({ id: V1 }),
    'backbone_exists',
    'form.card.id',
  ),
  refusedImport(
    'a re-import of an id the tenant already has',
    () => tinyModel({ weight: 0.02 }),
    card({ id: TINY_A }),
    'backbone_exists',
    'form.card.id',
  ),
  // The form.
  {
    area: 'backbones',
    name: 'the model as application/octet-stream, not multipart',
    request: (w) =>
      request('/v1/backbones', {
        key: w.a.apiKey,
        headers: { 'content-type': 'application/octet-stream' },
        body: tinyModel(),
      }),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'backbones',
    name: 'the card as a JSON body, not multipart',
    request: (w) => request('/v1/backbones', { key: w.a.apiKey, rawJson: card() }),
    code: 'unsupported_media_type',
    field: 'header.content-type',
  },
  {
    area: 'backbones',
    name: 'a multipart body that does not parse',
    request: (w) =>
      request('/v1/backbones', {
        key: w.a.apiKey,
        headers: { 'content-type': MULTIPART },
        body: 'this is not a multipart body',
      }),
    code: 'invalid_request',
    field: 'body',
  },
  {
    area: 'backbones',
    name: 'no model part',
    request: upload(() => ({ card: card() })),
    code: 'invalid_request',
    field: 'form.model',
  },
  {
    area: 'backbones',
    name: 'the model as a text field, not a file',
    request: upload(() => ({ model: 'ONNX', card: card() })),
    code: 'invalid_request',
    field: 'form.model',
  },
  {
    area: 'backbones',
    name: 'no card part',
    request: upload(() => ({ model: tinyModel() })),
    code: 'invalid_request',
    field: 'form.card',
  },
  // Credentials.
  {
    area: 'backbones',
    name: 'importing without an API key',
    request: () => request('/v1/backbones', { body: form({ model: tinyModel(), card: card() }) }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'backbones',
    name: 'importing with a revoked key',
    request: (w) =>
      request('/v1/backbones', {
        key: w.revokedKey,
        body: form({ model: tinyModel(), card: card() }),
      }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'backbones',
    name: 'listing without an API key',
    request: () => request('/v1/backbones'),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  {
    area: 'backbones',
    name: 'deleting with a forged key',
    request: () =>
      request(`/v1/backbones/${TINY_A}`, { key: forgedKey('hs_key'), method: 'DELETE' }),
    code: 'unauthorized',
    field: 'header.authorization',
  },
  // Another tenant's backbone.
  {
    area: 'backbones',
    name: "reading another tenant's backbone by name",
    request: asA(() => TINY_B),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: "reading another tenant's backbone by its URL-encoded full reference",
    request: asA((w) => encodeURIComponent(refOfB(w))),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: "deleting another tenant's backbone by name",
    request: asA(() => TINY_B, 'DELETE'),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: "deleting another tenant's backbone by its URL-encoded full reference",
    request: asA((w) => encodeURIComponent(refOfB(w)), 'DELETE'),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: 'reading a name that is a traversal path to a catalogue manifest',
    request: asA(() => encodeURIComponent(`../../backbones/${V1}`)),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: "deleting a traversal path out of the tenant's prefix",
    request: asA((w) => encodeURIComponent(`../${w.b.tenantId}/${TINY_B}`), 'DELETE'),
    code: 'not_found',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: 'a PUT over its own backbone',
    request: (w) =>
      request(`/v1/backbones/${TINY_A}`, {
        key: w.a.apiKey,
        method: 'PUT',
        body: form({ model: tinyModel({ weight: 0.02 }), card: card({ id: TINY_A }) }),
      }),
    code: 'not_found',
  },
  // Deleting what must stay.
  {
    area: 'backbones',
    name: 'deleting a catalogue backbone',
    request: asA(() => V1, 'DELETE'),
    code: 'forbidden',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: 'deleting its own backbone while a head uses it',
    request: asA(() => TINY_A, 'DELETE'),
    code: 'backbone_in_use',
    field: 'path.name',
  },
  {
    area: 'backbones',
    name: 'deleting its own backbone by full reference while a head uses it',
    request: asA((w) => encodeURIComponent(refOfA(w)), 'DELETE'),
    code: 'backbone_in_use',
    field: 'path.name',
  },
];

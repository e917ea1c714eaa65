// Trained heads for benchmarks, made the way a worker makes one: a job submitted with a tenant's
// key, leased with the worker token, and completed with a seeded linear head as ONNX.
import { exportHeadOnnx } from '../../src/shared/head-onnx.js';
import { BackboneManifestSchema } from '../../src/shared/manifest.js';
import { createRng, uniform } from '../../src/shared/random.js';
import type { LocalEdge } from '../../scripts/lib/local-edge.js';

/** `fetch` on the edge with a bearer credential; throws on anything but 2xx. */
export async function edgeCall(
  edge: LocalEdge,
  route: string,
  credential: string,
  init: RequestInit = {},
): Promise<Response> {
  const res = await fetch(`${edge.url}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${credential}`, ...init.headers },
  });
  if (!res.ok) throw new Error(`${route}: ${res.status} ${await res.text()}`);
  return res;
}

/**
 * A head on `backbone` for `apiKey`'s tenant (which owns `datasetId`), with seeded weights and
 * `labels`; `mode` is its input mode. Returns the head id.
 *
 * @example
 * const headId = await makeBenchHead(edge, { apiKey: edge.apiKey, datasetId, backbone: 'mobilenet-v2-0.35', seed: 1, labels: ['a', 'b'] });
 */
export async function makeBenchHead(
  edge: LocalEdge,
  opts: {
    apiKey: string;
    datasetId: string;
    backbone: string;
    seed: number;
    labels: readonly string[];
    mode?: 'shortest-edge' | 'squash';
  },
): Promise<string> {
  const json = { 'content-type': 'application/json' };
  await edgeCall(edge, '/v1/fine-tunes', opts.apiKey, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ datasetId: opts.datasetId, backbone: opts.backbone, seed: opts.seed }),
  });
  let grant: { jobId: string; leaseToken: string } | undefined;
  while (!grant) {
    const res = await edgeCall(edge, '/internal/v1/leases', edge.workerToken, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ waitSeconds: 2 }),
    });
    if (res.status === 200) grant = (await res.json()) as typeof grant;
  }
  const backbone = BackboneManifestSchema.parse(
    await (await edgeCall(edge, `/v1/models/${opts.backbone}`, opts.apiKey)).json(),
  );
  const rng = createRng(opts.seed);
  const dim = backbone.embeddingDim;
  const classes = opts.labels.length;
  const fill = (n: number) => Float32Array.from({ length: n }, () => uniform(rng, -0.1, 0.1));
  const onnx = exportHeadOnnx(
    {
      type: 'linear',
      dim,
      hidden: 0,
      classes,
      w1: fill(dim * classes),
      b1: fill(classes),
      w2: new Float32Array(0),
      b2: new Float32Array(0),
    },
    { producerVersion: 'bench' },
  );
  const form = new FormData();
  form.set('leaseToken', grant.leaseToken);
  form.set(
    'manifest',
    JSON.stringify({
      formatVersion: 1,
      kind: 'head',
      backbone: { id: backbone.id, fingerprint: backbone.fingerprint },
      input: { name: 'embedding', dim },
      preprocessing: {
        ...backbone.preprocessing,
        resize: { ...backbone.preprocessing.resize, mode: opts.mode ?? 'shortest-edge' },
      },
      id2label: Object.fromEntries(opts.labels.map((l, i) => [String(i), l])),
      metrics: { valAccuracy: 0 },
    }),
  );
  form.set('head', new Blob([onnx.slice()]), 'head.onnx');
  const done = (await (
    await edgeCall(edge, `/internal/v1/jobs/${grant.jobId}/complete`, edge.workerToken, {
      method: 'POST',
      body: form,
    })
  ).json()) as { headId: string };
  return done.headId;
}

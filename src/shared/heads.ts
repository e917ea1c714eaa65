// The trained-head contract: what a head file says about itself (written by the worker,
// validated by the edge before it is stored or served).
import { z } from 'zod';
import { JsonValueSchema } from './jobs.js';

export const HEAD_FORMAT_VERSION = 1;

export const HeadManifestSchema = z.looseObject({
  formatVersion: z.literal(HEAD_FORMAT_VERSION),
  kind: z.literal('head'),
  /** The backbone the head was trained on, by id and weights fingerprint. */
  backbone: z.object({ id: z.string().min(1), fingerprint: z.string().regex(/^[0-9a-f]{64}$/) }),
  /** The backbone tensor the head consumes and its size. */
  input: z.object({ name: z.string().min(1), dim: z.number().int().min(1) }),
  id2label: z.record(z.string().regex(/^\d+$/), z.string()),
  metrics: z.record(z.string(), JsonValueSchema),
});
export type HeadManifest = z.infer<typeof HeadManifestSchema>;

/** R2 keys of a stored head; the id derives from the content, so retries cannot fork it. */
export const headKeys = (headId: string) => ({
  model: `heads/${headId}/model.onnx`,
  manifest: `heads/${headId}/manifest.json`,
});

// Model catalogue routes: which backbones this edge can run, with their manifests.
import { Hono } from 'hono';
import { getBackboneManifest, listBackboneManifests } from '../classification/model-store.js';
import type { AppEnv } from '../env.js';
import type { BackboneManifest } from '../../shared/manifest.js';

/** The public view of a manifest: everything but the full label table (its size is given). */
function summary(m: BackboneManifest) {
  const { id2label, ...rest } = m;
  return { ...rest, numLabels: id2label ? Object.keys(id2label).length : 0 };
}

export const modelsRoutes = new Hono<AppEnv>()
  .get('/', async (c) => {
    const manifests = await listBackboneManifests(c.env.MODELS);
    return c.json({ models: manifests.map(summary) });
  })
  .get('/:id', async (c) => {
    const manifest = await getBackboneManifest(c.env.MODELS, c.req.param('id'), 'path.id');
    return c.json(manifest);
  });

// The ImageNet classifier through our own path: sharp decode → shared preprocess → converted ONNX.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWorkerSession, type WorkerSession } from '../../src/gpu-worker/embed.js';
import { topK } from '../../src/shared/head-math.js';
import { parseBackboneManifest, type BackboneManifest } from '../../src/shared/manifest.js';
import { preprocess } from '../../src/shared/preprocess.js';
import { DATASETS_DIR, TEST_MODELS } from '../support/paths.js';
import { decodePhoto, photosOf } from '../support/photos.js';

let session: WorkerSession;
let manifest: BackboneManifest;

beforeAll(async () => {
  const dir = path.join(TEST_MODELS, 'mobilenet-v1-0.25');
  manifest = parseBackboneManifest(
    JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')),
  );
  session = await createWorkerSession(await readFile(path.join(dir, 'model.onnx')), {
    provider: 'cpu',
  });
});

async function top5(file: string) {
  const tensor = preprocess(await decodePhoto(file), manifest.preprocessing);
  const out = await session.run({ pixel_values: { data: tensor, dims: [1, 3, 224, 224] } }, [
    'probabilities',
  ]);
  return topK(out.probabilities!.data, 5).map(({ index, score }) => ({
    label: manifest.id2label![String(index)]!,
    score,
  }));
}

describe('mobilenet-v1-0.25 ImageNet classifier', () => {
  it('calls the reference bee photo a bee (top-1)', async () => {
    const result = await top5(
      path.join(DATASETS_DIR, 'hymenoptera_data/val/bees/10870992_eebeeb3a12.jpg'),
    );
    expect(result[0]!.label).toBe('bee');
    expect(result[0]!.score).toBeGreaterThan(0.3);
  });

  it('puts "bee" in the top-5 for most validation bees and "ant" for many ants', async () => {
    const count = async (dir: string, label: string) => {
      let hits = 0;
      const files = await photosOf(dir);
      for (const f of files)
        if ((await top5(f)).some((p) => p.label.split(', ').includes(label))) hits++;
      return { hits, total: files.length };
    };
    const bees = await count('hymenoptera_data/val/bees', 'bee');
    const ants = await count('hymenoptera_data/val/ants', 'ant');
    console.log(
      `bee in top-5: ${bees.hits}/${bees.total}; ant in top-5: ${ants.hits}/${ants.total}`,
    );
    // The PyTorch/PIL reference in ../shared/README.md: 72/83 bees, 43/70 ants.
    expect(bees.total).toBe(83);
    expect(bees.hits).toBeGreaterThanOrEqual(68);
    expect(ants.hits).toBeGreaterThanOrEqual(38);
  });
});

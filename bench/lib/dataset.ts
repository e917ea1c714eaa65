// Uploads an ImageFolder directory to a local edge the way the CLI does (its scanner and its
// streamed zip), for benchmarks that start from a dataset on disk.
import { z } from 'zod';
import { imageFolderZip, scanImageFolder, type FolderImage } from '../../src/cli/image-folder.js';
import { createRng } from '../../src/shared/random.js';

const UploadSchema = z.object({
  id: z.string(),
  imageCount: z.object({ train: z.number(), val: z.number() }),
});

/**
 * The training images only, with a seeded `fraction` of each class moved to the validation
 * split: for choosing a job's settings without looking at the real validation photos.
 *
 * @example
 * holdOut(folder.images, 0.2); // train/ants/a.jpg … and val/ants/k.jpg …, no real val/
 */
export function holdOut(images: readonly FolderImage[], fraction: number): FolderImage[] {
  const byClass = new Map<string, FolderImage[]>();
  for (const image of images) {
    const [split, label] = image.name.split('/');
    if (split !== 'train' || label === undefined) continue;
    byClass.set(label, [...(byClass.get(label) ?? []), image]);
  }
  const rng = createRng(2026);
  const out: FolderImage[] = [];
  for (const members of byClass.values()) {
    const order = [...members].sort((a, b) => a.name.localeCompare(b.name));
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const held = Math.floor(order.length * fraction);
    order.forEach((image, i) =>
      out.push(i < held ? { ...image, name: image.name.replace(/^train\//, 'val/') } : image),
    );
  }
  return out;
}

/**
 * POST /v1/datasets with the folder's images; resolves with the dataset's id and counts. With
 * `holdout`, the real validation split stays out and that fraction of training images replaces it.
 *
 * @example
 * const dataset = await uploadImageFolder(edge, '../shared/datasets/hymenoptera_data');
 */
export async function uploadImageFolder(
  edge: { readonly url: string; readonly apiKey: string },
  dir: string,
  opts: { holdout?: number } = {},
): Promise<z.infer<typeof UploadSchema>> {
  const { images } = await scanImageFolder(dir);
  const zip = imageFolderZip(opts.holdout ? holdOut(images, opts.holdout) : images);
  // Streamed bodies need duplex 'half' in Node's fetch (not in the DOM's RequestInit).
  const init: RequestInit & { duplex: 'half' } = {
    method: 'POST',
    headers: {
      authorization: `Bearer ${edge.apiKey}`,
      'content-type': 'application/zip',
      'content-length': String(zip.bytes),
    },
    body: zip.stream(),
    duplex: 'half',
  };
  const res = await fetch(`${edge.url}/v1/datasets`, init);
  const body: unknown = await res.json();
  if (!res.ok) throw new Error(`upload failed: ${JSON.stringify(body)}`);
  return UploadSchema.parse(body);
}

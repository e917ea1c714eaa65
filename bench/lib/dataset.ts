// Uploads an ImageFolder directory to a local edge the way the CLI does (its scanner and its
// streamed zip), for benchmarks that start from a dataset on disk.
import { z } from 'zod';
import { imageFolderZip, scanImageFolder } from '../../src/cli/image-folder.js';

const UploadSchema = z.object({
  id: z.string(),
  imageCount: z.object({ train: z.number(), val: z.number() }),
});

/**
 * POST /v1/datasets with the folder's images; resolves with the dataset's id and counts.
 *
 * @example
 * const dataset = await uploadImageFolder(edge, '../shared/datasets/hymenoptera_data');
 */
export async function uploadImageFolder(
  edge: { readonly url: string; readonly apiKey: string },
  dir: string,
): Promise<z.infer<typeof UploadSchema>> {
  const zip = imageFolderZip((await scanImageFolder(dir)).images);
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

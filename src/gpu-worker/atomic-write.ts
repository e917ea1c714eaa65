// Write-then-rename, so a reader (or a crash) never sees a torn file. Each write has a
// temporary file of its own: processes sharing a directory, and concurrent writes of one file
// in one process (the same photo twice in a dataset, a backbone fetched for two sessions), must
// not rename each other's temporary file away.
import { rename, writeFile } from 'node:fs/promises';

let written = 0;

/**
 * @example
 * await writeFileAtomic('/cache/backbones/mobilenet-v2-1.0-ab12.onnx', bytes);
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.${++written}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

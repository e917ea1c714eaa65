// An in-process GPU worker for tests: the scripts' one, with a temporary cache by default.
import {
  startInProcessWorker as start,
  type InProcessWorker,
} from '../../scripts/lib/in-process-worker.js';
import { tempDir } from './temp.js';

export type { InProcessWorker };

/**
 * @example
 * const worker = await startInProcessWorker(edge, { workerId: 'test-worker' });
 * await worker.stop();
 */
export async function startInProcessWorker(
  edge: { readonly url: string; readonly workerToken: string },
  opts: Omit<Parameters<typeof start>[1], 'cacheDir'> & { readonly cacheDir?: string },
): Promise<InProcessWorker> {
  return start(edge, { ...opts, cacheDir: opts.cacheDir ?? (await tempDir('worker-cache')) });
}

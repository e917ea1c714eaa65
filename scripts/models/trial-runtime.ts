// The importer's trial run in Node: onnxruntime-web's wasm build, the runtime the edge uses.
import * as ort from 'onnxruntime-web';
import type { TrialRuntime } from '../../src/shared/onnx-import.js';

/**
 * Sessions on one wasm thread, as inside workerd.
 *
 * @example
 * await importOnnxBackbone({ bytes, card, photos, runtime: nodeTrialRuntime });
 */
export const nodeTrialRuntime: TrialRuntime = async (bytes) => {
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(bytes);
  return {
    release: () => session.release(),
    async run(feeds) {
      const tensors: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds))
        tensors[name] = new ort.Tensor('float32', t.data, [...t.dims]);
      const results = await session.run(tensors);
      return Object.fromEntries(
        Object.entries(results).map(([name, t]) => [
          name,
          { dims: t.dims, data: t.data as Float32Array },
        ]),
      );
    },
  };
};

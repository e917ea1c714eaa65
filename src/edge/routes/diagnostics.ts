// Runtime diagnostics for benchmarks and operators: off unless the DIAGNOSTICS var is "true".
import { Hono } from 'hono';
import { decoderMemoryBytes } from '../classification/decoder.js';
import { headCacheStats } from '../classification/head-store.js';
import { backboneCacheStats } from '../classification/model-store.js';
import { runtimeMemoryBytes } from '../classification/onnx-backend.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';

export const diagnosticsRoutes = new Hono<AppEnv>().get('/memory', async (c) => {
  if (c.env.DIAGNOSTICS !== 'true') throw new ApiError('not_found', 'diagnostics are disabled');
  const onnx = runtimeMemoryBytes();
  const decoder = await decoderMemoryBytes();
  return c.json({
    wasmMemoryBytes: { onnxruntime: onnx, decoder, total: onnx + decoder },
    backboneSessions: backboneCacheStats(),
    headSessions: headCacheStats(),
  });
});

// Runtime diagnostics for benchmarks and operators: off unless the DIAGNOSTICS var is "true".
import { Hono } from 'hono';
import { decoderMemoryBytes } from '../classification/decoder.js';
import { countersSnapshot, resetCounters } from '../diagnostics/counters.js';
import { headCacheStats } from '../classification/head-store.js';
import { backboneCacheStats } from '../classification/model-store.js';
import { runtimeMemoryBytes } from '../classification/onnx-backend.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';

const enabled = (env: AppEnv['Bindings']) => {
  if (env.DIAGNOSTICS !== 'true') throw new ApiError('not_found', 'diagnostics are disabled');
};

export const diagnosticsRoutes = new Hono<AppEnv>()
  // Durable Object requests and D1 queries by route since the last reset (this isolate).
  .get('/counters', (c) => {
    enabled(c.env);
    return c.json(countersSnapshot());
  })
  .delete('/counters', (c) => {
    enabled(c.env);
    resetCounters();
    return c.body(null, 204);
  })
  .get('/memory', async (c) => {
    enabled(c.env);
    const onnx = runtimeMemoryBytes();
    const decoder = await decoderMemoryBytes();
    return c.json({
      wasmMemoryBytes: { onnxruntime: onnx, decoder, total: onnx + decoder },
      backboneSessions: backboneCacheStats(),
      headSessions: headCacheStats(),
    });
  });

// The worker's only onnxruntime-node import: sessions on CUDA when available, CPU otherwise.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

export type ProviderPreference = 'auto' | 'cuda' | 'cpu';
export type ExecutionProvider = 'cuda' | 'cpu';

/** What the machine offers, gathered once by `probeProviders`. */
export interface ProviderProbe {
  /** onnxruntime-node was installed with its CUDA provider (`--onnxruntime-node-install=cuda12`). */
  readonly cudaProviderInstalled: boolean;
  /** An NVIDIA device node is visible to this process. */
  readonly gpuVisible: boolean;
}

export interface ProviderChoice {
  readonly provider: ExecutionProvider;
  readonly reason: string;
}

/** Thrown when a forced provider cannot be used; never silently downgraded. */
export class ProviderUnavailableError extends Error {
  override name = 'ProviderUnavailableError';
}

/** Looks for the CUDA provider library next to the binding, and for an NVIDIA device. */
export function probeProviders(): ProviderProbe {
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const binDir = path.join(pkgDir, 'bin', 'napi-v6', process.platform, process.arch);
  return {
    cudaProviderInstalled: existsSync(path.join(binDir, 'libonnxruntime_providers_cuda.so')),
    gpuVisible: existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0'),
  };
}

/**
 * Picks the execution provider: `auto` takes CUDA only when both the provider library and a
 * GPU are present; `cuda` insists (and throws if it cannot); `cpu` always works.
 *
 * @example
 * const choice = chooseProvider('auto', probeProviders());
 * console.log(`embedding on ${choice.provider}: ${choice.reason}`);
 */
export function chooseProvider(
  preference: ProviderPreference,
  probe: ProviderProbe,
): ProviderChoice {
  const missing = [
    probe.cudaProviderInstalled
      ? undefined
      : 'onnxruntime-node has no CUDA provider (install with --onnxruntime-node-install=cuda12)',
    probe.gpuVisible ? undefined : 'no NVIDIA device is visible',
  ].filter((m): m is string => m !== undefined);
  if (preference === 'cpu') return { provider: 'cpu', reason: 'CPU requested' };
  if (missing.length === 0)
    return { provider: 'cuda', reason: 'CUDA provider installed and a GPU is visible' };
  if (preference === 'cuda')
    throw new ProviderUnavailableError(`CUDA was requested but ${missing.join(' and ')}`);
  return { provider: 'cpu', reason: `falling back to CPU: ${missing.join(' and ')}` };
}

export interface OutputTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

export interface WorkerSession {
  readonly provider: ExecutionProvider;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(
    inputs: Readonly<
      Record<string, { readonly data: Float32Array; readonly dims: readonly number[] }>
    >,
    outputNames?: readonly string[],
  ): Promise<Record<string, OutputTensor>>;
  release(): Promise<void>;
}

/**
 * Creates a session from ONNX bytes on the chosen provider. `threads` bounds CPU threads
 * (1 for benchmarks that compare against single-threaded wasm).
 *
 * @example
 * const session = await createWorkerSession(bytes, { provider: 'cpu', threads: 1 });
 */
export async function createWorkerSession(
  model: Uint8Array,
  opts: { readonly provider: ExecutionProvider; readonly threads?: number },
): Promise<WorkerSession> {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: [opts.provider],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // Idle onnxruntime threads sleep instead of spinning: the preprocessing threads need the
    // same cores between backbone runs.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    ...(opts.threads === undefined
      ? {}
      : { intraOpNumThreads: opts.threads, interOpNumThreads: 1 }),
  });
  return {
    provider: opts.provider,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(inputs, outputNames) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(inputs))
        feeds[name] = new ort.Tensor('float32', t.data, [...t.dims]);
      const results = outputNames
        ? await session.run(feeds, [...outputNames])
        : await session.run(feeds);
      const out: Record<string, OutputTensor> = {};
      for (const [name, tensor] of Object.entries(results)) {
        if (tensor.type !== 'float32')
          throw new TypeError(`output ${name} is ${tensor.type}, expected float32`);
        out[name] = { dims: tensor.dims, data: tensor.data as Float32Array };
      }
      return out;
    },
    release: () => session.release(),
  };
}

// The edge's only onnxruntime-web import: single-threaded wasm sessions inside workerd.
//
// workerd refuses to compile WebAssembly from bytes, so the runtime's .wasm is imported as a
// module (wrangler precompiles it) and handed to ORT's Emscripten loader when the first
// session is created. Everything outside this file deals in plain typed arrays.
import * as ort from 'onnxruntime-web/wasm';
import ortWasm from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';

/** One output tensor as plain data. */
export interface OutputTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** A loaded model: run it with named float32 inputs, get named float32 outputs. */
export interface EdgeSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(
    inputs: Readonly<
      Record<string, { readonly data: Float32Array; readonly dims: readonly number[] }>
    >,
    outputNames?: readonly string[],
  ): Promise<Record<string, OutputTensor>>;
  /** Frees the session's wasm memory (for reuse by later sessions); it cannot run afterwards. */
  release(): Promise<void>;
}

let runtimeReady: Promise<void> | undefined;
let runtimeMemory: WebAssembly.Memory | undefined;

/**
 * Initialises ORT's wasm runtime exactly once per isolate. ORT passes `wasmBinary` bytes to
 * `WebAssembly.instantiate`; for the duration of the initialisation we answer that call with
 * an instance of the precompiled module instead (same imports, no code generation).
 */
function initRuntime(): Promise<void> {
  runtimeReady ??= (async () => {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.simd = true;
    // A placeholder: its presence stops ORT from fetching the .wasm by URL.
    ort.env.wasm.wasmBinary = new Uint8Array(8);
    ort.env.logLevel = 'error';
    const original = WebAssembly.instantiate.bind(WebAssembly);
    const precompiled = async (_bytes: unknown, imports?: WebAssembly.Imports) => {
      const instance = await original(ortWasm, imports);
      // The threaded build imports its memory; others export it.
      const candidates = [
        ...Object.values(instance.exports),
        ...Object.values(imports ?? {}).flatMap((ns) => Object.values(ns)),
      ];
      runtimeMemory = candidates.find(
        (e): e is WebAssembly.Memory => e instanceof WebAssembly.Memory,
      );
      return { instance, module: ortWasm };
    };
    // Only the (bytes, imports) overload is ever called by ORT's loader.
    WebAssembly.instantiate = precompiled as unknown as typeof WebAssembly.instantiate;
    try {
      // Creating a session is what triggers the runtime's initialisation; an empty model
      // fails after the runtime is up, which is all we need here.
      await ort.InferenceSession.create(new Uint8Array(0)).catch(() => undefined);
    } finally {
      WebAssembly.instantiate = original;
    }
  })();
  return runtimeReady;
}

/**
 * Creates a session from ONNX bytes, with full graph optimisation on one thread.
 *
 * @example
 * const session = await createEdgeSession(await (await env.MODELS.get(key))!.arrayBuffer());
 * const out = await session.run({ pixel_values: { data: tensor, dims: [1, 3, 224, 224] } });
 */
export async function createEdgeSession(model: ArrayBuffer | Uint8Array): Promise<EdgeSession> {
  await initRuntime();
  const session = await ort.InferenceSession.create(
    model instanceof Uint8Array ? model : new Uint8Array(model),
    {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    },
  );
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    release: () => session.release(),
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
        tensor.dispose();
      }
      return out;
    },
  };
}

/** Bytes of linear memory the ORT runtime holds now (0 before the first session). */
export function runtimeMemoryBytes(): number {
  return runtimeMemory?.buffer.byteLength ?? 0;
}

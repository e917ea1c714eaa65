// Backbones for the worker: manifests and ONNX files from the edge (verified, cached on disk)
// and one onnxruntime session per backbone, reused by every job.
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { sha256Hex } from '../shared/fingerprint.js';
import type { BackboneManifest } from '../shared/manifest.js';
import { withGraphOutputs } from '../shared/onnx-outputs.js';
import type { EdgeClient } from './edge-client.js';
import { createWorkerSession, type ExecutionProvider, type WorkerSession } from './embed.js';
import { readOnnxModel, type OnnxModel } from './finetune/onnx-model.js';

export type Embed = (batch: Float32Array[]) => Promise<Float32Array[]>;

/** Activations of one backbone tensor per image, and their shape without the batch axis. */
export interface ActivationSource {
  readonly shape: readonly number[];
  readonly run: Embed;
}

/**
 * @example
 * const store = new BackboneStore(edge, { cacheDir, provider: 'cpu', threads: 1 });
 * const embed = await store.embedder('mobilenet-v2-0.35');
 */
export class BackboneStore {
  private readonly manifests = new Map<string, Promise<BackboneManifest>>();
  private readonly sessions = new Map<string, Promise<WorkerSession>>();
  private readonly graphs = new Map<string, Promise<OnnxModel>>();
  private readonly sources = new Map<string, Promise<ActivationSource>>();

  constructor(
    private readonly edge: Pick<EdgeClient, 'backboneManifest' | 'backboneModel'>,
    private readonly opts: {
      readonly cacheDir: string;
      readonly provider: ExecutionProvider;
      readonly threads: number;
    },
  ) {}

  /** Where sessions run, and their CPU threads (0 = onnxruntime's default). */
  get sessionOptions(): { readonly provider: ExecutionProvider; readonly threads: number } {
    return { provider: this.opts.provider, threads: this.opts.threads };
  }

  manifest(id: string): Promise<BackboneManifest> {
    let pending = this.manifests.get(id);
    if (!pending) {
      pending = this.edge.backboneManifest(id);
      this.manifests.set(id, pending);
      pending.catch(() => this.manifests.delete(id));
    }
    return pending;
  }

  private async modelBytes(manifest: BackboneManifest): Promise<Uint8Array> {
    const file = path.join(
      this.opts.cacheDir,
      'backbones',
      `${manifest.id}-${manifest.onnx.sha256.slice(0, 16)}.onnx`,
    );
    try {
      const cached = new Uint8Array(await readFile(file));
      if ((await sha256Hex(cached)) === manifest.onnx.sha256) return cached;
    } catch {
      // not cached yet
    }
    const bytes = await this.edge.backboneModel(manifest.id);
    const digest = await sha256Hex(bytes);
    if (digest !== manifest.onnx.sha256) {
      throw new Error(
        `backbone ${manifest.id}: downloaded weights have sha256 ${digest}, the manifest says ${manifest.onnx.sha256}`,
      );
    }
    await mkdir(path.dirname(file), { recursive: true });
    // Workers sharing a cache dir, or this one's embedder and fine-tuning sessions, may fetch
    // the same backbone at once.
    await writeFileAtomic(file, bytes);
    return bytes;
  }

  /** A session of backbone `id`, also returning `extraOutput` when given (a cut tensor). */
  private session(id: string, extraOutput?: string): Promise<WorkerSession> {
    const key = extraOutput === undefined ? id : `${id}\n${extraOutput}`;
    let pending = this.sessions.get(key);
    if (!pending) {
      pending = (async () => {
        const manifest = await this.manifest(id);
        const bytes = await this.modelBytes(manifest);
        return createWorkerSession(
          extraOutput === undefined ? bytes : withGraphOutputs(bytes, [extraOutput]),
          {
            provider: this.opts.provider,
            ...(this.opts.threads > 0 ? { threads: this.opts.threads } : {}),
          },
        );
      })();
      this.sessions.set(key, pending);
      pending.catch(() => this.sessions.delete(key));
    }
    return pending;
  }

  /** The backbone's graph and weights, parsed (fine-tuning cuts its tail out of it). */
  graph(id: string): Promise<OnnxModel> {
    let pending = this.graphs.get(id);
    if (!pending) {
      pending = (async () => readOnnxModel(await this.modelBytes(await this.manifest(id))))();
      this.graphs.set(id, pending);
      pending.catch(() => this.graphs.delete(id));
    }
    return pending;
  }

  /**
   * Activations of `tensor` (the embedding, or a block's input) per preprocessed image, made
   * once per backbone and tensor. For the model input itself (full fine-tuning) they are the
   * preprocessed pixels and no backbone runs.
   */
  activations(id: string, tensor: string): Promise<ActivationSource> {
    const key = `${id}\n${tensor}`;
    let pending = this.sources.get(key);
    if (!pending) {
      pending = this.loadSource(id, tensor);
      this.sources.set(key, pending);
      pending.catch(() => this.sources.delete(key));
    }
    return pending;
  }

  private async loadSource(id: string, tensor: string): Promise<ActivationSource> {
    const manifest = await this.manifest(id);
    const { width, height } = manifest.preprocessing.crop;
    if (tensor === manifest.onnx.input.name)
      return {
        shape: [3, height, width],
        run: (batch) => Promise.resolve(batch.map((t) => Float32Array.from(t))),
      };
    const isOutput = Object.values(manifest.onnx.outputs).some((o) => o?.name === tensor);
    const session = await this.session(id, isOutput ? undefined : tensor);
    // One input buffer, reused by every batch that finds it free: a fresh 20 MB array per batch
    // is what made garbage collection take most of a core while a dataset was embedded.
    const staging: { free?: Float32Array } = {};
    const runBatch = async (batch: readonly Float32Array[]) => {
      const length = batch.length * 3 * height * width;
      const free = staging.free;
      const buffer = free && free.length >= length ? free : new Float32Array(length);
      if (buffer === free) delete staging.free;
      try {
        const data = buffer.subarray(0, length);
        batch.forEach((t, i) => data.set(t, i * t.length));
        const out = await session.run(
          { [manifest.onnx.input.name]: { data, dims: [batch.length, 3, height, width] } },
          [tensor],
        );
        return out[tensor]!;
      } finally {
        if (!staging.free || staging.free.length < buffer.length) staging.free = buffer;
      }
    };
    const run: Embed = async (batch) => {
      if (batch.length === 0) return [];
      const { data } = await runBatch(batch);
      const size = data.length / batch.length;
      return batch.map((_, i) => data.slice(i * size, (i + 1) * size));
    };
    // The embedding's size is in the manifest; a cut's shape comes from one probe run.
    const shape =
      tensor === manifest.onnx.outputs.embedding.name
        ? [manifest.embeddingDim]
        : (await runBatch([new Float32Array(3 * height * width)])).dims.slice(1);
    return { shape, run };
  }

  /** A function embedding a batch of preprocessed images with backbone `id`. */
  async embedder(id: string): Promise<Embed> {
    const manifest = await this.manifest(id);
    return (await this.activations(id, manifest.onnx.outputs.embedding.name)).run;
  }

  async close(): Promise<void> {
    for (const pending of this.sessions.values()) await (await pending).release();
    this.sessions.clear();
    this.sources.clear();
  }
}

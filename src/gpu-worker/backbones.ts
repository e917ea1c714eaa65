// Backbones for the worker: manifests and ONNX files from the edge (verified, cached on disk)
// and one onnxruntime session per backbone, reused by every job.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
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
    // A temporary file per process: workers sharing a cache dir may download the same backbone.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, bytes);
    await rename(tmp, file);
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
   * Activations of `tensor` (a block's input) per preprocessed image. For the model input
   * itself (full fine-tuning) they are the preprocessed pixels and no backbone runs.
   */
  async activations(id: string, tensor: string): Promise<ActivationSource> {
    const manifest = await this.manifest(id);
    const { width, height } = manifest.preprocessing.crop;
    if (tensor === manifest.onnx.input.name)
      return {
        shape: [3, height, width],
        run: (batch) => Promise.resolve(batch.map((t) => Float32Array.from(t))),
      };
    const session = await this.session(id, tensor);
    const run: Embed = async (batch) => {
      if (batch.length === 0) return [];
      const data = new Float32Array(batch.length * 3 * height * width);
      batch.forEach((t, i) => data.set(t, i * t.length));
      const out = (
        await session.run(
          { [manifest.onnx.input.name]: { data, dims: [batch.length, 3, height, width] } },
          [tensor],
        )
      )[tensor]!;
      const size = out.data.length / batch.length;
      return batch.map((_, i) => out.data.slice(i * size, (i + 1) * size));
    };
    const probe = await session.run(
      {
        [manifest.onnx.input.name]: {
          data: new Float32Array(3 * height * width),
          dims: [1, 3, height, width],
        },
      },
      [tensor],
    );
    return { shape: probe[tensor]!.dims.slice(1), run };
  }

  /** A function embedding a batch of preprocessed images with backbone `id`. */
  async embedder(id: string): Promise<Embed> {
    const manifest = await this.manifest(id);
    const session = await this.session(id);
    const { width, height } = manifest.preprocessing.crop;
    const dim = manifest.embeddingDim;
    return async (batch) => {
      if (batch.length === 0) return [];
      const data = new Float32Array(batch.length * 3 * height * width);
      batch.forEach((t, i) => data.set(t, i * t.length));
      const out = await session.run(
        { [manifest.onnx.input.name]: { data, dims: [batch.length, 3, height, width] } },
        [manifest.onnx.outputs.embedding.name],
      );
      const embedding = out[manifest.onnx.outputs.embedding.name]!.data;
      return batch.map((_, i) => embedding.slice(i * dim, (i + 1) * dim));
    };
  }

  async close(): Promise<void> {
    for (const pending of this.sessions.values()) await (await pending).release();
    this.sessions.clear();
  }
}

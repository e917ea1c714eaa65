// Backbones for the worker: manifests and ONNX files from the edge (verified, cached on disk)
// and one onnxruntime session per backbone, reused by every job.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256Hex } from '../shared/fingerprint.js';
import type { BackboneManifest } from '../shared/manifest.js';
import type { EdgeClient } from './edge-client.js';
import { createWorkerSession, type ExecutionProvider, type WorkerSession } from './embed.js';

export type Embed = (batch: Float32Array[]) => Promise<Float32Array[]>;

/**
 * @example
 * const store = new BackboneStore(edge, { cacheDir, provider: 'cpu', threads: 1 });
 * const embed = await store.embedder('mobilenet-v2-0.35');
 */
export class BackboneStore {
  private readonly manifests = new Map<string, Promise<BackboneManifest>>();
  private readonly sessions = new Map<string, Promise<WorkerSession>>();

  constructor(
    private readonly edge: Pick<EdgeClient, 'backboneManifest' | 'backboneModel'>,
    private readonly opts: {
      readonly cacheDir: string;
      readonly provider: ExecutionProvider;
      readonly threads: number;
    },
  ) {}

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
    await writeFile(`${file}.tmp`, bytes);
    await rename(`${file}.tmp`, file);
    return bytes;
  }

  private session(id: string): Promise<WorkerSession> {
    let pending = this.sessions.get(id);
    if (!pending) {
      pending = (async () => {
        const manifest = await this.manifest(id);
        return createWorkerSession(await this.modelBytes(manifest), {
          provider: this.opts.provider,
          ...(this.opts.threads > 0 ? { threads: this.opts.threads } : {}),
        });
      })();
      this.sessions.set(id, pending);
      pending.catch(() => this.sessions.delete(id));
    }
    return pending;
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

// Embeddings on disk, keyed by (backbone fingerprint, image sha256, view): epochs, retries and
// every job of a sweep over the same dataset reuse them instead of running the backbone again.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DECODING_CONTRACT } from '../shared/decode.js';
import { writeFileAtomic } from './atomic-write.js';

/** Where per-view vectors are kept between uses: embeddings, or activations at a cut. */
export interface VectorCache {
  readonly hits: number;
  get(imageSha: string, view: string): Promise<Float32Array | undefined>;
  put(imageSha: string, view: string, vector: Float32Array): Promise<void>;
}

/**
 * @example
 * const cache = new EmbeddingCache('.cache/worker', manifest.fingerprint, 1280);
 * const hit = await cache.get(imageSha, viewKey(view)); // Float32Array | undefined
 * const cut = new EmbeddingCache('.cache/worker', manifest.fingerprint, 2744, 'block_15_add');
 */
export class EmbeddingCache implements VectorCache {
  private readonly root: string;
  /** View key → its short hash, and the directories known to exist: no repeated work per file. */
  private readonly viewHashes = new Map<string, string>();
  private readonly dirs = new Set<string>();
  hits = 0;
  misses = 0;

  constructor(
    cacheDir: string,
    fingerprint: string,
    private readonly dim: number,
    /** A backbone tensor other than the embedding (a fine-tuning cut). */
    tensor?: string,
  ) {
    // Keyed by the decoding contract too: vectors of pixels decoded another way are not reused.
    const base = path.join(cacheDir, 'embeddings', DECODING_CONTRACT, fingerprint.slice(0, 32));
    this.root =
      tensor === undefined ? base : path.join(base, 'cuts', tensor.replace(/[^A-Za-z0-9_-]/g, '_'));
  }

  private file(imageSha: string, view: string): string {
    let viewHash = this.viewHashes.get(view);
    if (viewHash === undefined) {
      viewHash = createHash('sha256').update(view).digest('hex').slice(0, 24);
      this.viewHashes.set(view, viewHash);
    }
    return path.join(this.root, imageSha.slice(0, 2), `${imageSha}-${viewHash}.f32`);
  }

  async get(imageSha: string, view: string): Promise<Float32Array | undefined> {
    try {
      const bytes = await readFile(this.file(imageSha, view));
      if (bytes.byteLength !== this.dim * 4) return undefined;
      this.hits++;
      return new Float32Array(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      );
    } catch {
      this.misses++;
      return undefined;
    }
  }

  /** Stores atomically (write then rename), so a crash never leaves a torn entry. */
  async put(imageSha: string, view: string, embedding: Float32Array): Promise<void> {
    const file = this.file(imageSha, view);
    const dir = path.dirname(file);
    if (!this.dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.dirs.add(dir);
    }
    // A dataset may hold the same photo twice: both copies' views are stored under one key at
    // the same moment, each through its own temporary file.
    await writeFileAtomic(
      file,
      new Uint8Array(embedding.buffer, embedding.byteOffset, embedding.byteLength),
    );
  }
}

/** Keeps vectors in memory for one job: for tensors too large to be worth a disk cache (pixels). */
export class MemoryCache implements VectorCache {
  private readonly entries = new Map<string, Float32Array>();
  hits = 0;

  get(imageSha: string, view: string): Promise<Float32Array | undefined> {
    const hit = this.entries.get(`${imageSha}\n${view}`);
    if (hit) this.hits++;
    return Promise.resolve(hit);
  }

  put(imageSha: string, view: string, vector: Float32Array): Promise<void> {
    this.entries.set(`${imageSha}\n${view}`, vector);
    return Promise.resolve();
  }
}

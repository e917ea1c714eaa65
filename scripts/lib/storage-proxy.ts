// The local R2 buckets and D1 databases of wrangler.toml, opened from Node (wrangler's platform
// proxy) to seed or inspect the state `wrangler dev` uses. Only the storage bindings are handed to
// the proxy: it cannot run the Worker's own Durable Object classes, and given wrangler.toml as it is
// it warns that they "will not work in local development" — untrue of `wrangler dev`, and alarming.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'smol-toml';
import { getPlatformProxy } from 'wrangler';

const STORAGE_KEYS = [
  'name',
  'compatibility_date',
  'compatibility_flags',
  'r2_buckets',
  'd1_databases',
];

/** wrangler.toml reduced to its storage bindings (same bucket names and database ids, so the same state). */
export function storageConfigText(configPath = 'wrangler.toml'): string {
  const config = parse(readFileSync(configPath, 'utf8'));
  const kept = Object.fromEntries(Object.entries(config).filter(([k]) => STORAGE_KEYS.includes(k)));
  return `# Written by scripts/lib/storage-proxy.ts from ${path.basename(configPath)}: storage bindings only.\n${stringify(kept)}\n`;
}

/**
 * Opens the local storage persisted under `persistPath` (a `…/v3` directory).
 *
 * @example
 * const proxy = await openStorageProxy<{ MODELS: R2Bucket }>('.wrangler/state/v3');
 * try { await proxy.env.MODELS.list(); } finally { await proxy.dispose(); }
 */
export async function openStorageProxy<Env extends Record<string, unknown>>(
  persistPath: string,
  configPath = 'wrangler.toml',
): Promise<{ env: Env; dispose: () => Promise<void> }> {
  const dir = path.resolve('.cache', 'storage-proxy');
  await mkdir(dir, { recursive: true });
  const file = path.join(
    dir,
    `wrangler-${process.pid}-${Math.random().toString(36).slice(2)}.toml`,
  );
  await writeFile(file, storageConfigText(configPath));
  try {
    const proxy = await getPlatformProxy<Env>({ configPath: file, persist: { path: persistPath } });
    return {
      env: proxy.env,
      dispose: async () => {
        await proxy.dispose();
        await rm(file, { force: true });
      },
    };
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
}

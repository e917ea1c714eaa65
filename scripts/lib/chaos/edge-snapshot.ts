// The edge of a chaos run, started from a copy of its sources. Wrangler's dev bundler watches every
// file it bundles, so an edit elsewhere in a shared checkout would restart the local runtime mid-run,
// failing the requests in flight and dropping the simulated queue's in-memory messages.
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../../models/import.js';
import { startLocalEdge, type LocalEdge } from '../local-edge.js';

/** What the edge is built, configured and migrated from. */
const EDGE_SOURCES = [
  'wrangler.toml',
  'package.json',
  'tsconfig.json',
  'src/edge',
  'src/shared',
  'lessons',
  'migrations',
  // The lesson quotes its figures from here (src/edge/lessons/catalog.ts imports it).
  'bench/results.json',
];

/**
 * Copies the edge's sources to `snapshotDir` (inside the project, so node_modules resolve) and
 * starts a local edge from there over `stateDir`.
 *
 * @example
 * const edge = await startEdgeSnapshot(stateDir, '.cache/chaos/edge-1234');
 */
export async function startEdgeSnapshot(
  stateDir: string,
  snapshotDir: string,
  opts: { extraTenants?: number } = {},
): Promise<LocalEdge> {
  for (const source of EDGE_SOURCES)
    await cp(source, path.join(snapshotDir, source), { recursive: true });
  const home = process.cwd();
  // startLocalEdge reads wrangler.toml and runs the migrations from the working directory.
  process.chdir(snapshotDir);
  try {
    return await startLocalEdge(stateDir, {
      modelsSource: DEFAULT_SOURCE,
      modelsOut: DEFAULT_OUT,
      extraTenants: opts.extraTenants ?? 0,
    });
  } finally {
    process.chdir(home);
  }
}

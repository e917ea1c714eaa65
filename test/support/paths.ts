// Where tests find ../shared (models and photo datasets) and their generated fixtures.
import path from 'node:path';

/** The read-only shared folder beside the project (HEADSTART_SHARED_DIR overrides). */
export const SHARED_DIR = path.resolve(
  process.env.HEADSTART_SHARED_DIR ?? path.join(import.meta.dirname, '..', '..', '..', 'shared'),
);
export const MODELS_SOURCE = path.join(SHARED_DIR, 'models');
export const DATASETS_DIR = path.join(SHARED_DIR, 'datasets');
/** Generated test fixtures (converted models, parity tensors); git-ignored. */
export const TEST_CACHE = path.resolve(import.meta.dirname, '..', '..', '.cache', 'test');
export const TEST_MODELS = path.join(TEST_CACHE, 'models');

// Shared setup for dataset tests: fixture archives staged in R2, bucket listings, refusals.
import { env } from 'cloudflare:workers';
import { expect } from 'vitest';
import { datasetKeys } from '../../src/shared/datasets.js';
import { newId } from '../../src/shared/secrets.js';
import { ApiError, type ErrorCode } from '../../src/edge/errors.js';
import { fixtureBytes } from './fixtures.js';

export const TENANT = 'ten_test';

/** A fixture's bytes (see fixtures.ts for the one retry on a dropped connection). */
export const fixture = fixtureBytes;

/** Puts fixture `datasets/<name>` where an upload would be: datasets/<id>/archive.zip. */
export async function stageArchive(name: string, datasetId = newId('ds')) {
  const archiveKey = datasetKeys(datasetId).archive;
  await env.DATASETS.put(archiveKey, await fixture(`datasets/${name}`));
  return { datasetId, archiveKey, tenant: TENANT };
}

/** Every key in the datasets bucket (optionally under a prefix), sorted. */
export async function listKeys(prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.DATASETS.list({
      ...(prefix === undefined ? {} : { prefix }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  return keys.sort();
}

/** Awaits `promise`, expecting an ApiError with `code`; returns it for further checks. */
export async function expectApiError(
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<ApiError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError))
    throw new Error(`expected ApiError ${code}, got ${String(error)}`);
  expect(error.code, error.message).toBe(code);
  return error;
}

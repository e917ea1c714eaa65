// The OpenAPI document as a local edge serves it, used the way API users use it: linted with
// Redocly's recommended rules, turned into a typed client with openapi-typescript and compiled
// with TypeScript, and named the way the CLI names the routes it calls.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE } from '../../src/cli/client.js';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { describeProblem, lintOpenApi } from '../../scripts/lib/openapi-lint.js';
import { MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

let edge: LocalEdge | undefined;
let source = '';
type Doc = {
  servers: { url: string }[];
  paths: Record<string, Record<string, { operationId?: string }>>;
};
let doc: Doc;

beforeAll(async () => {
  edge = await startLocalEdge(await tempDir('openapi-edge'), {
    modelsSource: MODELS_SOURCE,
    modelsOut: TEST_MODELS,
  });
  source = await (await fetch(`${edge.url}/openapi.json`)).text();
  doc = JSON.parse(source) as Doc;
}, 90_000);

afterAll(async () => {
  await edge?.stop();
}, 30_000);

describe('the OpenAPI document', () => {
  it('passes Redocly’s recommended rules: no error, no warning', async () => {
    const problems = (await lintOpenApi(source)).map(describeProblem);
    expect(problems).toEqual([]);
  });

  it('names this edge as its server and every operation with a unique id', () => {
    expect(doc.servers).toEqual([{ url: edge!.url, description: 'this edge' }]);
    const ids = Object.values(doc.paths).flatMap((ops) =>
      Object.values(ops).map((o) => o.operationId),
    );
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('names each operation as the CLI does', () => {
    for (const [name, route] of Object.entries(ROUTE))
      expect(doc.paths[route.path]?.[route.method.toLowerCase()]?.operationId, name).toBe(name);
  });

  it('generates a typed client that compiles, and whose types say what the API answers', async () => {
    const dir = await tempDir('openapi-client');
    const schema = path.join(dir, 'schema.ts');
    await writeFile(schema, astToString(await openapiTS(JSON.parse(source) as never)));
    const usage = path.join(dir, 'usage.ts');
    await writeFile(
      usage,
      `import type { operations, paths } from './schema.js';
type KeyList = operations['listKeys']['responses'][200]['content']['application/json'];
export const names = (list: KeyList): string[] => list.keys.map((k) => k.name);
type Classify = paths['/v1/classify']['post'];
export type Problem = operations['submitJob']['responses'][422]['content']['application/problem+json'];
export const code = (p: Problem): string => p.code;
export type Top = NonNullable<Classify['parameters']['query']>['topK'];
`,
    );
    const program = ts.createProgram([schema, usage], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    // And it does catch a mistake: a field the API does not have.
    await writeFile(
      usage,
      `${await readFile(usage, 'utf8')}export const bad = (l: KeyList) => l.secrets;\n`,
    );
    const broken = ts.createProgram([schema, usage], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
    });
    expect(ts.getPreEmitDiagnostics(broken).length).toBeGreaterThan(0);
  });
});

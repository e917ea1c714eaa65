// `npm run provision` and `npm run deploy`, run as an operator would, against a recording stand-in
// for the wrangler CLI (Cloudflare's API cannot be reached from tests): the plan must cover every
// resource wrangler.toml binds, a second run must create nothing, and a failed migration must stop
// a deploy before the Worker goes out.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/**
 * A stand-in for wrangler that keeps the account's resources in a JSON file and appends every
 * invocation to a log. FAKE_FAIL=<word> makes any command containing that word fail.
 */
const FAKE_WRANGLER = `#!/usr/bin/env node
const fs = require('node:fs');
const args = process.argv.slice(2);
const state = JSON.parse(fs.existsSync(process.env.FAKE_STATE) ? fs.readFileSync(process.env.FAKE_STATE, 'utf8') : '{"d1":{},"r2":[],"queues":[],"admins":0}');
fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify(['wrangler', ...args]) + '\\n');
const save = () => fs.writeFileSync(process.env.FAKE_STATE, JSON.stringify(state));
const fail = process.env.FAKE_FAIL;
if (fail && args.some((a) => a.includes(fail))) { console.error('simulated failure'); process.exit(1); }
const [a, b, c, d] = args;
if (a === 'whoami' || a === 'deploy') process.exit(0);
if (a === 'd1' && b === 'list') { console.log(JSON.stringify(Object.entries(state.d1).map(([name, uuid]) => ({ name, uuid })))); process.exit(0); }
if (a === 'd1' && b === 'create') { state.d1[c] = 'f00d0000-0000-4000-8000-' + String(Object.keys(state.d1).length + 1).padStart(12, '0'); save(); process.exit(0); }
if (a === 'd1' && b === 'migrations') process.exit(0);
if (a === 'd1' && b === 'execute') {
  const sql = args[args.indexOf('--command') + 1];
  if (sql.startsWith('SELECT COUNT')) { console.log(JSON.stringify([{ results: [{ n: state.admins }], success: true }])); process.exit(0); }
  if (sql.startsWith('INSERT INTO admin_tokens')) { state.admins++; save(); process.exit(0); }
}
if (a === 'r2' && b === 'bucket' && c === 'info') process.exit(state.r2.includes(d) ? 0 : 1);
if (a === 'r2' && b === 'bucket' && c === 'create') { state.r2.push(d); save(); process.exit(0); }
if (a === 'queues' && b === 'info') process.exit(state.queues.includes(c) ? 0 : 1);
if (a === 'queues' && b === 'create') { state.queues.push(c); save(); process.exit(0); }
console.error('fake wrangler: unexpected ' + args.join(' ')); process.exit(3);
`;
const FAKE_NPM = `#!/usr/bin/env node
require('node:fs').appendFileSync(process.env.FAKE_LOG, JSON.stringify(['npm', ...process.argv.slice(2)]) + '\\n');
`;

let dir: string;
let env: NodeJS.ProcessEnv;
const envName = `provtest-${randomBytes(4).toString('hex')}`;
const envFile = `wrangler.${envName}.toml`;

async function script(
  name: 'provision' | 'deploy',
  args: string[],
  extra: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', `scripts/${name}.ts`, ...args],
      { env: { ...env, ...extra }, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function calls(): Promise<string[][]> {
  const log = path.join(dir, 'log');
  if (!existsSync(log)) return [];
  const text = await readFile(log, 'utf8');
  await rm(log);
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string[]);
}

/** Every account resource the committed wrangler.toml names, found without the script's code. */
function boundResources(toml: Record<string, unknown>): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        if (['bucket_name', 'database_name', 'queue', 'dead_letter_queue'].includes(key)) {
          found.add(String(v));
        } else walk(v);
      }
    }
  };
  walk(toml);
  return [...found];
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'headstart-provision-'));
  await writeFile(path.join(dir, 'wrangler'), FAKE_WRANGLER);
  await writeFile(path.join(dir, 'npm'), FAKE_NPM);
  await chmod(path.join(dir, 'wrangler'), 0o755);
  await chmod(path.join(dir, 'npm'), 0o755);
  env = {
    ...process.env,
    HEADSTART_WRANGLER: path.join(dir, 'wrangler'),
    HEADSTART_NPM: path.join(dir, 'npm'),
    FAKE_STATE: path.join(dir, 'state.json'),
    FAKE_LOG: path.join(dir, 'log'),
  };
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(envFile, { force: true });
});

describe('npm run provision -- --dry-run', () => {
  it('lists a create step for every resource wrangler.toml binds, and runs nothing', async () => {
    const toml = parse(await readFile('wrangler.toml', 'utf8'));
    const { code, stdout } = await script('provision', ['--dry-run', '--env', envName]);
    expect(code).toBe(0);
    expect(await calls()).toEqual([]);
    const commands = stdout
      .split('\n')
      .filter((l) => l.startsWith('$ '))
      .map((l) => l.slice(2).replace(/\s+# .*$/, ''));
    const resources = boundResources(toml);
    expect(resources).toEqual(
      expect.arrayContaining(['headstart', 'headstart-models', 'headstart-datasets']),
    );
    expect(resources).toContain('headstart-jobs-dlq');
    for (const name of resources) {
      expect(
        commands.some((c) => / create /.test(c) && c.endsWith(` ${name}`)),
        `a create command for ${name}`,
      ).toBe(true);
    }
    const migrate = commands.findIndex((c) =>
      c.startsWith(`wrangler d1 migrations apply headstart --remote -c ${envFile}`),
    );
    const deploy = commands.indexOf(`wrangler deploy -c ${envFile}`);
    const admin = commands.findIndex((c) => c.includes('INSERT INTO admin_tokens'));
    expect(migrate).toBeGreaterThan(0);
    expect(deploy).toBeGreaterThan(migrate);
    expect(admin).toBeGreaterThan(deploy);
    expect(commands).toContain('npm run models:publish -- --bucket headstart-models');
    // the committed config never gets the real ids
    expect(commands.some((c) => c.includes('-c wrangler.toml'))).toBe(false);
  });

  it('refuses a binding it has no step for, and picks up a new bucket by itself', async () => {
    const base = await readFile('wrangler.toml', 'utf8');
    const withKv = path.join(dir, 'kv.toml');
    await writeFile(withKv, `${base}\n[[kv_namespaces]]\nbinding = "CACHE"\nid = "x"\n`);
    const refused = await script('provision', ['--dry-run', '--config', withKv]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/kv_namespaces/);

    const withBucket = path.join(dir, 'bucket.toml');
    await writeFile(
      withBucket,
      `${base}\n[[r2_buckets]]\nbinding = "EXPORTS"\nbucket_name = "headstart-exports"\n`,
    );
    const planned = await script('provision', ['--dry-run', '--config', withBucket]);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toContain('wrangler r2 bucket create headstart-exports');
  });
});

describe('npm run provision', () => {
  it('creates what is missing, writes the environment config, and prints one admin token; a second run changes nothing', async () => {
    const first = await script('provision', ['--env', envName, '--admin-name', 'ops']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const firstCalls = await calls();
    const created = firstCalls.filter((c) => c.includes('create')).map((c) => c.at(-1));
    expect(created.sort()).toEqual([
      'headstart',
      'headstart-datasets',
      'headstart-jobs',
      'headstart-jobs-dlq',
      'headstart-models',
    ]);
    const token = /\n {2}(hs_admin_[\w-]+)\n/.exec(first.stdout)?.[1];
    expect(token, first.stdout).toBeDefined();
    const insert = firstCalls.find((c) => c.at(-1)!.startsWith('INSERT INTO admin_tokens'));
    const hash = createHash('sha256').update(token!).digest('hex');
    expect(insert!.at(-1)).toContain(`'${hash}'`);
    expect(insert!.at(-1)).toContain(`'ops'`);
    expect(insert!.join(' ')).not.toContain(token!);
    // migrations before the deploy; the models published to the MODELS bucket
    const order = firstCalls.map((c) => c.slice(0, 3).join(' '));
    expect(order.indexOf('wrangler d1 migrations')).toBeLessThan(
      order.indexOf('wrangler deploy -c'),
    );
    expect(firstCalls).toContainEqual([
      'npm',
      'run',
      'models:publish',
      '--',
      '--bucket',
      'headstart-models',
    ]);

    const config = await readFile(envFile, 'utf8');
    expect(config).toContain('database_id = "f00d0000-0000-4000-8000-000000000001"');
    expect((await readFile('wrangler.toml', 'utf8')).includes('f00d0000')).toBe(false);
    const parsed = parse(config) as { d1_databases: { database_id: string }[]; name: string };
    expect(parsed.name).toBe('headstart');

    // the real wrangler accepts the written config and binds every resource from it
    const bundle = await run(
      path.resolve('node_modules/.bin/wrangler'),
      ['deploy', '--dry-run', '-c', envFile, '--outdir', path.join(dir, 'bundle')],
      { env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, timeout: 90_000 },
    );
    for (const binding of ['D1 Database', 'R2 Bucket', 'Queue', 'Durable Object']) {
      expect(bundle.stdout).toContain(binding);
    }
    expect(bundle.stdout).toMatch(/env\.DB \(headstart\)/);

    const second = await script('provision', ['--env', envName]);
    expect(second.code).toBe(0);
    const secondCalls = await calls();
    expect(secondCalls.filter((c) => c.includes('create'))).toEqual([]);
    expect(secondCalls.some((c) => c.at(-1)!.startsWith('INSERT'))).toBe(false);
    expect(second.stdout).not.toMatch(/hs_admin_/);
    expect(second.stdout).toContain('nothing created');
    expect(await readFile(envFile, 'utf8')).toBe(config);
  });

  it('stops at a failing step and says so', async () => {
    const failed = await script('provision', ['--env', envName], { FAKE_FAIL: 'whoami' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/`wrangler whoami` failed/);
    expect((await calls()).length).toBe(1);
  });
});

describe('npm run deploy', () => {
  it('applies migrations, then deploys; a failed migration stops it before the Worker', async () => {
    const ok = await script('deploy', ['--env', envName]);
    expect(ok.code).toBe(0);
    const okCalls = (await calls()).map((c) => c.slice(0, 3).join(' '));
    expect(okCalls).toEqual([
      'wrangler d1 migrations',
      'npm run build:widgets',
      'wrangler deploy -c',
    ]);

    const failed = await script('deploy', ['--env', envName], { FAKE_FAIL: 'migrations' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/migrations apply headstart .*failed[\s\S]*not deployed/);
    const failedCalls = await calls();
    expect(failedCalls.some((c) => c[1] === 'deploy')).toBe(false);
  });

  it('asks for provisioning first when the environment has no config', async () => {
    const missing = await script('deploy', ['--env', 'never-provisioned']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/npm run provision -- --env never-provisioned/);
    expect(await calls()).toEqual([]);
  });
});

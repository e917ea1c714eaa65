// Runs a provisioning or deploy plan (scripts/lib/provision.ts) with the real wrangler, stopping at
// the first failing command. HEADSTART_WRANGLER and HEADSTART_NPM name other programs to run in
// their place (the tests use recording stand-ins; nothing else should need them).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateSecret, hashSecret, newId } from '../../src/shared/secrets.js';
import {
  countFromExecute,
  d1Ids,
  envConfigText,
  insertAdminToken,
  showCommand,
  type Command,
  type Step,
} from './provision.js';

export class StepFailed extends Error {
  constructor(
    readonly command: Command,
    readonly status: number | null,
  ) {
    super(`\`${showCommand(command)}\` failed (exit ${status ?? 'signal'})`);
  }
}

function program(name: string): string {
  if (name === 'wrangler') {
    return process.env.HEADSTART_WRANGLER ?? path.resolve('node_modules/.bin/wrangler');
  }
  if (name === 'npm') return process.env.HEADSTART_NPM ?? 'npm';
  return name;
}

const QUIET_ENV = { WRANGLER_SEND_METRICS: 'false' };

/** Runs a command; returns its exit status and, when asked, its stdout. */
function exec(command: Command, capture: boolean): { status: number | null; stdout: string } {
  const [name, ...args] = command;
  const result = spawnSync(program(name!), args, {
    // stdin closed: wrangler runs non-interactively and never waits on a prompt
    stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'],
    encoding: 'utf8',
    env: { ...process.env, ...QUIET_ENV },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout ?? '' };
}

function must(command: Command, log: (line: string) => void, capture = false): string {
  log(`$ ${showCommand(command)}`);
  const { status, stdout } = exec(command, capture);
  if (status !== 0) throw new StepFailed(command, status);
  return stdout;
}

export interface RunOptions {
  /** The committed config the environment config is written from. */
  readonly baseConfig: string;
  /** Name recorded on a newly created admin token. */
  readonly adminName: string;
  readonly log?: (line: string) => void;
}

export interface RunReport {
  created: string[];
  adminToken?: string;
}

/** Runs every step in order; throws StepFailed at the first failing command. */
export async function runPlan(steps: readonly Step[], options: RunOptions): Promise<RunReport> {
  const log = options.log ?? ((line: string) => console.log(line));
  const report: RunReport = { created: [] };
  for (const step of steps) {
    log(`# ${step.why}`);
    switch (step.kind) {
      case 'run':
        must(step.command, log);
        break;
      case 'ensure': {
        let exists: boolean;
        if (step.resource.type === 'd1') {
          exists = step.resource.name in d1Ids(must(step.check, log, true));
        } else {
          log(`$ ${showCommand(step.check)}`);
          exists = exec(step.check, true).status === 0;
        }
        if (exists) {
          log(`  ${step.resource.name} exists`);
        } else {
          must(step.create, log);
          report.created.push(`${step.resource.type}:${step.resource.name}`);
        }
        break;
      }
      case 'write-config': {
        const ids = d1Ids(must(step.command, log, true));
        const text = envConfigText(readFileSync(options.baseConfig, 'utf8'), ids, step.env);
        writeFileSync(step.file, text);
        log(`  wrote ${step.file}`);
        break;
      }
      case 'admin-token': {
        const count = countFromExecute(must(step.check, log, true));
        if (count > 0) {
          log(`  ${count} admin token(s) exist; none created`);
          break;
        }
        const token = generateSecret('hs_admin');
        const sql = insertAdminToken({
          id: newId('adm'),
          hash: await hashSecret(token),
          name: options.adminName,
          at: new Date().toISOString(),
        });
        const create = [...step.create.slice(0, -1), sql];
        must(create, log, true);
        report.created.push('admin-token');
        report.adminToken = token;
        break;
      }
    }
  }
  return report;
}

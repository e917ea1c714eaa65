// What provisioning Headstart on a Cloudflare account takes, derived from wrangler.toml's own
// bindings so a new binding cannot be forgotten: create every D1 database, R2 bucket and queue
// (dead-letter queues included) that is missing, write an environment config with the real ids,
// apply the D1 migrations remotely, publish the backbones, deploy, and make the first admin token.
import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { z } from 'zod';

/** The bindings of wrangler.toml that name account resources. */
const WranglerSchema = z.looseObject({
  name: z.string(),
  r2_buckets: z.array(z.looseObject({ binding: z.string(), bucket_name: z.string() })).default([]),
  d1_databases: z
    .array(
      z.looseObject({
        binding: z.string(),
        database_name: z.string(),
        database_id: z.string(),
        migrations_dir: z.string().optional(),
      }),
    )
    .default([]),
  queues: z
    .looseObject({
      producers: z.array(z.looseObject({ binding: z.string(), queue: z.string() })).default([]),
      consumers: z
        .array(z.looseObject({ queue: z.string(), dead_letter_queue: z.string().optional() }))
        .default([]),
    })
    .default({ producers: [], consumers: [] }),
});
export type WranglerConfig = z.infer<typeof WranglerSchema>;

/**
 * Top-level wrangler.toml keys provisioning knows about: those it creates resources for, and
 * those that need nothing created on the account (deploying sets them up). Any other key, say a
 * new `kv_namespaces`, stops provisioning until a step for it is written here.
 */
export const PROVISIONED_KEYS = ['d1_databases', 'r2_buckets', 'queues'] as const;
export const DEPLOY_ONLY_KEYS = [
  'name',
  'main',
  'compatibility_date',
  'compatibility_flags',
  'rules',
  'durable_objects',
  'migrations',
  'ratelimits',
  'vars',
  'observability',
  'limits',
] as const;

/** Keys of a wrangler config that provisioning has no step for (empty when all is covered). */
export function unprovisionedKeys(raw: Record<string, unknown>): string[] {
  const known = new Set<string>([...PROVISIONED_KEYS, ...DEPLOY_ONLY_KEYS]);
  return Object.keys(raw).filter((key) => !known.has(key));
}

/** Reads and checks wrangler.toml (or another config); refuses bindings it cannot provision. */
export function readWranglerConfig(file = 'wrangler.toml'): WranglerConfig {
  const raw = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const unknown = unprovisionedKeys(raw);
  if (unknown.length > 0) {
    throw new Error(
      `${file} has ${unknown.join(', ')}, which provisioning does not know how to create: ` +
        'add a step for it to scripts/lib/provision.ts (or list it in DEPLOY_ONLY_KEYS).',
    );
  }
  return WranglerSchema.parse(raw);
}

/** Every resource the Worker binds, by kind. */
export function resources(config: WranglerConfig): {
  d1: string[];
  r2: string[];
  queues: string[];
} {
  const queues = new Set<string>();
  for (const p of config.queues.producers) queues.add(p.queue);
  for (const c of config.queues.consumers) {
    queues.add(c.queue);
    if (c.dead_letter_queue) queues.add(c.dead_letter_queue);
  }
  return {
    d1: config.d1_databases.map((d) => d.database_name),
    r2: config.r2_buckets.map((b) => b.bucket_name),
    queues: [...queues],
  };
}

/** A command line: the program (`wrangler` or `npm`) and its arguments. */
export type Command = readonly string[];

/**
 * One step of a plan.
 * - `run`: always runs (each is idempotent by nature: migrations, publishing, deploying).
 * - `ensure`: runs `check` first and `create` only when the resource is missing. A D1 check lists
 *   the account's databases (`d1 info` would resolve the name through wrangler.toml's placeholder
 *   id); bucket and queue checks are `info` commands that fail for a missing one.
 * - `write-config`: lists the databases and writes the environment config with their real ids.
 * - `admin-token`: counts live admin tokens and inserts a new one (printed once) only when there
 *   is none.
 */
export type Step =
  | { readonly kind: 'run'; readonly why: string; readonly command: Command }
  | {
      readonly kind: 'ensure';
      readonly why: string;
      readonly resource: { readonly type: 'd1' | 'r2' | 'queue'; readonly name: string };
      readonly check: Command;
      readonly create: Command;
    }
  | {
      readonly kind: 'write-config';
      readonly why: string;
      readonly env: string;
      readonly file: string;
      readonly command: Command;
    }
  | {
      readonly kind: 'admin-token';
      readonly why: string;
      readonly database: string;
      readonly check: Command;
      readonly create: Command;
    };

/** The environment config provisioning writes: wrangler.toml with the account's real ids. */
export const envConfigFile = (env: string) => `wrangler.${env}.toml`;

/** Environment names become file names: keep them plain. */
export const ENV_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export const COUNT_ADMIN_TOKENS = 'SELECT COUNT(*) AS n FROM admin_tokens WHERE revoked_at IS NULL';
export function insertAdminToken(values: {
  id: string;
  hash: string;
  name: string;
  at: string;
}): string {
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  return (
    'INSERT INTO admin_tokens (id, token_hash, name, created_at) VALUES (' +
    [values.id, values.hash, values.name, values.at].map(quote).join(', ') +
    ')'
  );
}

/** The bucket the MODELS binding names (where backbones are published). */
function modelsBucket(config: WranglerConfig): string {
  const bucket = config.r2_buckets.find((b) => b.binding === 'MODELS');
  if (!bucket) throw new Error('wrangler.toml binds no MODELS bucket');
  return bucket.bucket_name;
}

const migrate = (database: string, envFile: string): Step => ({
  kind: 'run',
  why: `apply the D1 migrations of ${database} remotely (a failure stops here)`,
  command: ['wrangler', 'd1', 'migrations', 'apply', database, '--remote', '-c', envFile],
});

/**
 * The steps of `npm run provision`, in order. Creating steps are skipped for resources that
 * exist, and the admin token for a database that has one, so a second run changes nothing.
 *
 * @example
 * for (const step of provisionPlan(readWranglerConfig(), 'production')) console.log(step.why);
 */
export function provisionPlan(config: WranglerConfig, env: string): Step[] {
  const { d1, r2, queues } = resources(config);
  const envFile = envConfigFile(env);
  const listD1: Command = ['wrangler', 'd1', 'list', '--json'];
  const migrated = config.d1_databases.filter((d) => d.migrations_dir !== undefined);
  const main = config.d1_databases.find((d) => d.binding === 'DB');
  return [
    { kind: 'run', why: 'check the Cloudflare login', command: ['wrangler', 'whoami'] },
    ...d1.map((name): Step => ({
      kind: 'ensure',
      why: `D1 database ${name}`,
      resource: { type: 'd1', name },
      check: listD1,
      create: ['wrangler', 'd1', 'create', name],
    })),
    ...r2.map((name): Step => ({
      kind: 'ensure',
      why: `R2 bucket ${name}`,
      resource: { type: 'r2', name },
      check: ['wrangler', 'r2', 'bucket', 'info', name],
      create: ['wrangler', 'r2', 'bucket', 'create', name],
    })),
    ...queues.map((name): Step => ({
      kind: 'ensure',
      why: `queue ${name}`,
      resource: { type: 'queue', name },
      check: ['wrangler', 'queues', 'info', name],
      create: ['wrangler', 'queues', 'create', name],
    })),
    {
      kind: 'write-config',
      why: `write ${envFile}: wrangler.toml with the real database ids (the committed file stays as it is)`,
      env,
      file: envFile,
      command: listD1,
    },
    ...migrated.map((d) => migrate(d.database_name, envFile)),
    {
      kind: 'run',
      why: 'convert the backbones (skipped when current)',
      command: ['npm', 'run', 'models:import', '--', '--no-upload'],
    },
    {
      kind: 'run',
      why: 'publish the backbones to R2',
      command: ['npm', 'run', 'models:publish', '--', '--bucket', modelsBucket(config)],
    },
    {
      kind: 'run',
      why: 'build the widget bundle the Worker serves',
      command: ['npm', 'run', 'build:widgets'],
    },
    { kind: 'run', why: 'deploy the Worker', command: ['wrangler', 'deploy', '-c', envFile] },
    ...(main
      ? [
          {
            kind: 'admin-token' as const,
            why: 'create the first admin token (printed once) when there is none',
            database: main.database_name,
            check: [
              'wrangler',
              'd1',
              'execute',
              main.database_name,
              '--remote',
              '-c',
              envFile,
              '--json',
              '--command',
              COUNT_ADMIN_TOKENS,
            ],
            create: [
              'wrangler',
              'd1',
              'execute',
              main.database_name,
              '--remote',
              '-c',
              envFile,
              '--command',
              insertAdminToken({
                id: '<id>',
                hash: '<sha256 of a new hs_admin token>',
                name: '<name>',
                at: '<now>',
              }),
            ],
          },
        ]
      : []),
  ];
}

/**
 * The steps of `npm run deploy` for later releases: migrations first (a failure stops the
 * deploy), then the widgets and the Worker.
 */
export function deployPlan(config: WranglerConfig, env: string): Step[] {
  const envFile = envConfigFile(env);
  return [
    ...config.d1_databases
      .filter((d) => d.migrations_dir !== undefined)
      .map((d) => migrate(d.database_name, envFile)),
    {
      kind: 'run',
      why: 'build the widget bundle the Worker serves',
      command: ['npm', 'run', 'build:widgets'],
    },
    { kind: 'run', why: 'deploy the Worker', command: ['wrangler', 'deploy', '-c', envFile] },
  ];
}

/** A command as a shell would show it (arguments with spaces or quotes quoted). */
export function showCommand(command: Command): string {
  return command
    .map((arg) => {
      if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
      if (!/["$`\\!]/.test(arg)) return `"${arg}"`;
      return `'${arg.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}

/** The dry-run listing: every command of the plan, in order, with why and when it runs. */
export function describePlan(steps: readonly Step[]): string[] {
  const lines: string[] = [];
  for (const [i, step] of steps.entries()) {
    lines.push(`# ${i + 1}. ${step.why}`);
    switch (step.kind) {
      case 'run':
        lines.push(`$ ${showCommand(step.command)}`);
        break;
      case 'ensure':
        lines.push(`$ ${showCommand(step.check)}`);
        lines.push(`$ ${showCommand(step.create)}    # only if ${step.resource.name} is missing`);
        break;
      case 'write-config':
        lines.push(`$ ${showCommand(step.command)}`);
        lines.push(`# writes ${step.file}`);
        break;
      case 'admin-token':
        lines.push(`$ ${showCommand(step.check)}`);
        lines.push(`$ ${showCommand(step.create)}    # only if the count is 0`);
        break;
    }
  }
  return lines;
}

/**
 * wrangler.toml's text with each D1 database's placeholder id replaced by the real one, for the
 * environment config (every path in it stays relative to the project root).
 */
export function envConfigText(committed: string, ids: Record<string, string>, env: string): string {
  const body = committed.replace(
    /database_name\s*=\s*"([^"]+)"\s*\n\s*database_id\s*=\s*"[^"]*"/g,
    (match, name: string) =>
      ids[name]
        ? match.replace(/database_id\s*=\s*"[^"]*"/, `database_id = "${ids[name]}"`)
        : match,
  );
  return (
    `# Written by \`npm run provision -- --env ${env}\` from wrangler.toml, with this account's\n` +
    `# resource ids. Not committed; edit wrangler.toml and provision again instead.\n\n${body}`
  );
}

/** The ids of `wrangler d1 list --json` by database name. */
export function d1Ids(listJson: string): Record<string, string> {
  const rows = z
    .array(z.looseObject({ name: z.string(), uuid: z.string() }))
    .parse(JSON.parse(listJson));
  return Object.fromEntries(rows.map((r) => [r.name, r.uuid]));
}

/** The count out of `wrangler d1 execute --json --command "SELECT COUNT(*) AS n …"`. */
export function countFromExecute(json: string): number {
  const parsed = z
    .array(z.looseObject({ results: z.array(z.looseObject({ n: z.number() })) }))
    .parse(JSON.parse(json));
  return parsed[0]?.results[0]?.n ?? 0;
}

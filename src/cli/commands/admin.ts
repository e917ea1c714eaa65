// `keys list|create|revoke` (a tenant's own API keys) and `admin …` (operators, with an admin
// token): tenants, their keys, worker tokens, usage and the workers that report in. A secret is
// printed once, when it is made; nothing else ever shows it.
import { z } from 'zod';
import type { Command } from '../args.js';
import { choiceValue, stringValue } from '../args.js';
import { UsageError } from '../errors.js';
import { FORMATS, formatRows } from '../format.js';

const FORMAT_OPTION = {
  format: { type: 'string', value: '<fmt>', help: 'table (default), json or csv' },
} as const;

const KeySchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
const NewKeySchema = z.object({ id: z.string(), name: z.string(), apiKey: z.string() });
const TenantSchema = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  disabledAt: z.string().nullable(),
  activeKeys: z.number(),
});
const Nothing = z.null();

function positional(positionals: readonly string[], count: number, usage: string): string[] {
  if (positionals.length !== count) throw new UsageError(`usage: headstart ${usage}`);
  return [...positionals];
}

const SECRET_ONLY_OPTION = {
  'secret-only': { type: 'boolean', help: 'print only the secret (for scripts and secret stores)' },
} as const;

/**
 * A new secret, with what it is for: the only time it is shown. With --secret-only, the secret
 * alone on one line, so `$(headstart … --secret-only)` captures it.
 */
function printSecret(
  term: { out(text: string): void },
  values: Record<string, unknown>,
  summary: string,
  what: string,
  secret: string,
): void {
  term.out(
    values['secret-only']
      ? `${secret}\n`
      : `${summary}\n${what} (shown once; store it now):\n${secret}\n`,
  );
}

const keysList: Command = {
  name: 'keys list',
  usage: 'keys list [--format table|json|csv]',
  summary: 'Your API keys: name, created, last used (never the secrets)',
  key: 'required',
  options: FORMAT_OPTION,
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const { keys } = await client().call(
      z.object({ keys: z.array(KeySchema.extend({ current: z.boolean() })) }),
      'listKeys',
    );
    const rows = keys.map((k) => [
      `${k.id}${k.current ? ' *' : ''}`,
      k.name,
      k.createdAt,
      k.lastUsedAt ?? '–',
      k.revokedAt ? `revoked ${k.revokedAt}` : 'active',
    ]);
    term.out(
      formatRows(format, ['id', 'name', 'created', 'last used', 'state'], rows, {
        json: keys,
        color: term.color,
      }),
    );
    if (format === 'table') term.err('(* the key this command used)\n');
    return 0;
  },
};

const keysCreate: Command = {
  name: 'keys create',
  usage: 'keys create <name> [--secret-only]',
  summary: 'Create another API key (to rotate: create, switch to it, revoke the old one)',
  key: 'required',
  options: SECRET_ONLY_OPTION,
  async run({ term, client, values, positionals }) {
    const [name] = positional(positionals, 1, 'keys create <name>');
    const key = await client().call(NewKeySchema, 'createKey', { body: { name } });
    printSecret(term, values, `${key.id} "${key.name}"`, 'API key', key.apiKey);
    return 0;
  },
};

const keysRevoke: Command = {
  name: 'keys revoke',
  usage: 'keys revoke <keyId> [--last-key]',
  summary: 'Revoke one of your API keys (your last one only with --last-key)',
  key: 'required',
  options: {
    'last-key': { type: 'boolean', help: 'allow revoking your last active key (locks you out)' },
  },
  async run({ term, client, values, positionals }) {
    const [id] = positional(positionals, 1, 'keys revoke <keyId>');
    await client().call(Nothing, 'revokeKey', {
      params: { id: id! },
      query: { confirm: values['last-key'] ? 'last-key' : undefined },
    });
    term.out(`revoked ${id}\n`);
    return 0;
  },
};

const tenantsCreate: Command = {
  name: 'admin tenants create',
  usage: 'admin tenants create <name> [--key-name N] [--secret-only]',
  summary: 'Create a tenant and its first API key',
  key: 'admin',
  options: {
    'key-name': { type: 'string', value: '<name>', help: 'name of the first key' },
    ...SECRET_ONLY_OPTION,
  },
  async run({ term, client, values, positionals }) {
    const [name] = positional(positionals, 1, 'admin tenants create <name>');
    const keyName = stringValue(values, 'key-name');
    const created = await client().call(
      z.object({ tenant: TenantSchema, key: z.object({ id: z.string(), apiKey: z.string() }) }),
      'adminCreateTenant',
      { body: { name, ...(keyName ? { keyName } : {}) } },
    );
    printSecret(
      term,
      values,
      `tenant ${created.tenant.id} "${created.tenant.name}", key ${created.key.id}`,
      'API key',
      created.key.apiKey,
    );
    return 0;
  },
};

const tenantsList: Command = {
  name: 'admin tenants list',
  usage: 'admin tenants list [--format table|json|csv]',
  summary: 'Every tenant, newest first',
  key: 'admin',
  options: FORMAT_OPTION,
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const { tenants } = await client().call(
      z.object({ tenants: z.array(TenantSchema) }),
      'adminListTenants',
    );
    const rows = tenants.map((t) => [
      t.id,
      t.name,
      t.activeKeys,
      t.disabledAt ? `disabled ${t.disabledAt}` : 'active',
      t.createdAt,
    ]);
    term.out(
      formatRows(format, ['id', 'name', 'keys', 'state', 'created'], rows, {
        json: tenants,
        color: term.color,
      }),
    );
    return 0;
  },
};

const tenantsDisable: Command = {
  name: 'admin tenants disable',
  usage: 'admin tenants disable <tenantId>',
  summary: 'Disable a tenant: every key of it stops working at once',
  key: 'admin',
  options: {},
  async run({ term, client, positionals }) {
    const [id] = positional(positionals, 1, 'admin tenants disable <tenantId>');
    const tenant = await client().call(TenantSchema, 'adminDisableTenant', { params: { id: id! } });
    term.out(`disabled ${tenant.id} "${tenant.name}" at ${tenant.disabledAt}\n`);
    return 0;
  },
};

const tenantsEnable: Command = {
  name: 'admin tenants enable',
  usage: 'admin tenants enable <tenantId>',
  summary: 'Enable a disabled tenant: its active keys work again',
  key: 'admin',
  options: {},
  async run({ term, client, positionals }) {
    const [id] = positional(positionals, 1, 'admin tenants enable <tenantId>');
    const tenant = await client().call(TenantSchema, 'adminEnableTenant', { params: { id: id! } });
    term.out(`enabled ${tenant.id} "${tenant.name}" (${tenant.activeKeys} active key(s))\n`);
    return 0;
  },
};

const usage: Command = {
  name: 'admin usage',
  usage: 'admin usage <tenantId> [--format table|json|csv]',
  summary: 'A tenant’s datasets, jobs, heads and requests in the last day',
  key: 'admin',
  options: FORMAT_OPTION,
  async run({ term, client, values, positionals }) {
    const [id] = positional(positionals, 1, 'admin usage <tenantId>');
    const format = choiceValue(values, 'format', FORMATS);
    const report = await client().call(
      z.object({
        tenantId: z.string(),
        datasets: z.number(),
        jobs: z.record(z.string(), z.number()),
        heads: z.number(),
        requestsLastDay: z.number(),
      }),
      'adminUsage',
      { params: { id: id! } },
    );
    const rows = [
      ['datasets', report.datasets],
      ...Object.entries(report.jobs).map(([state, n]) => [`jobs ${state}`, n]),
      ['heads', report.heads],
      ['requests, last 24 h', report.requestsLastDay],
    ];
    term.out(
      formatRows(format, ['usage', 'count'], rows, { json: report, color: term.color, right: [1] }),
    );
    return 0;
  },
};

const keysListAdmin: Command = {
  name: 'admin keys list',
  usage: 'admin keys list <tenantId> [--format table|json|csv]',
  summary: 'A tenant’s API keys: name, created, last used (never the secrets)',
  key: 'admin',
  options: FORMAT_OPTION,
  async run({ term, client, values, positionals }) {
    const [id] = positional(positionals, 1, 'admin keys list <tenantId>');
    const format = choiceValue(values, 'format', FORMATS);
    const { keys } = await client().call(z.object({ keys: z.array(KeySchema) }), 'adminListKeys', {
      params: { id: id! },
    });
    const rows = keys.map((k) => [
      k.id,
      k.name,
      k.createdAt,
      k.lastUsedAt ?? '–',
      k.revokedAt ? `revoked ${k.revokedAt}` : 'active',
    ]);
    term.out(
      formatRows(format, ['id', 'name', 'created', 'last used', 'state'], rows, {
        json: keys,
        color: term.color,
      }),
    );
    return 0;
  },
};

const keysIssue: Command = {
  name: 'admin keys issue',
  usage: 'admin keys issue <tenantId> <name> [--secret-only]',
  summary: 'Issue an API key to a tenant',
  key: 'admin',
  options: SECRET_ONLY_OPTION,
  async run({ term, client, values, positionals }) {
    const [id, name] = positional(positionals, 2, 'admin keys issue <tenantId> <name>');
    const key = await client().call(NewKeySchema, 'adminIssueKey', {
      params: { id: id! },
      body: { name },
    });
    printSecret(term, values, `${key.id} "${key.name}" for ${id}`, 'API key', key.apiKey);
    return 0;
  },
};

const keysRevokeAdmin: Command = {
  name: 'admin keys revoke',
  usage: 'admin keys revoke <tenantId> <keyId>',
  summary: 'Revoke one of a tenant’s API keys',
  key: 'admin',
  options: {},
  async run({ term, client, positionals }) {
    const [id, keyId] = positional(positionals, 2, 'admin keys revoke <tenantId> <keyId>');
    await client().call(Nothing, 'adminRevokeKey', { params: { id: id!, keyId: keyId! } });
    term.out(`revoked ${keyId} of ${id}\n`);
    return 0;
  },
};

const workerTokensList: Command = {
  name: 'admin worker-tokens list',
  usage: 'admin worker-tokens list [--format table|json|csv]',
  summary: 'Worker tokens: name, created, revoked (never the secrets)',
  key: 'admin',
  options: FORMAT_OPTION,
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const { workerTokens } = await client().call(
      z.object({
        workerTokens: z.array(
          z.object({
            id: z.string(),
            name: z.string(),
            createdAt: z.string(),
            revokedAt: z.string().nullable(),
          }),
        ),
      }),
      'adminListWorkerTokens',
    );
    const rows = workerTokens.map((t) => [
      t.id,
      t.name,
      t.createdAt,
      t.revokedAt ? `revoked ${t.revokedAt}` : 'active',
    ]);
    term.out(
      formatRows(format, ['id', 'name', 'created', 'state'], rows, {
        json: workerTokens,
        color: term.color,
      }),
    );
    return 0;
  },
};

const workerTokensIssue: Command = {
  name: 'admin worker-tokens issue',
  usage: 'admin worker-tokens issue <name> [--secret-only]',
  summary: 'Issue a worker token (for HEADSTART_WORKER_TOKEN)',
  key: 'admin',
  options: SECRET_ONLY_OPTION,
  async run({ term, client, values, positionals }) {
    const [name] = positional(positionals, 1, 'admin worker-tokens issue <name>');
    const token = await client().call(
      z.object({ id: z.string(), name: z.string(), token: z.string() }),
      'adminIssueWorkerToken',
      { body: { name } },
    );
    printSecret(term, values, `${token.id} "${token.name}"`, 'worker token', token.token);
    return 0;
  },
};

const workerTokensRevoke: Command = {
  name: 'admin worker-tokens revoke',
  usage: 'admin worker-tokens revoke <tokenId>',
  summary: 'Revoke a worker token: the worker’s next request is refused',
  key: 'admin',
  options: {},
  async run({ term, client, positionals }) {
    const [id] = positional(positionals, 1, 'admin worker-tokens revoke <tokenId>');
    await client().call(Nothing, 'adminRevokeWorkerToken', { params: { id: id! } });
    term.out(`revoked ${id}\n`);
    return 0;
  },
};

const workers: Command = {
  name: 'admin workers',
  usage: 'admin workers [--format table|json|csv]',
  summary: 'Workers that asked for work: token, provider, jobs held, last seen',
  key: 'admin',
  options: FORMAT_OPTION,
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const { workers: list } = await client().call(
      z.object({
        workers: z.array(
          z.object({
            workerId: z.string(),
            tokenName: z.string(),
            provider: z.string().nullable(),
            jobsHeld: z.number(),
            lastSeenAt: z.string(),
          }),
        ),
      }),
      'adminWorkers',
    );
    const rows = list.map((w) => [
      w.workerId,
      w.tokenName,
      w.provider ?? '–',
      w.jobsHeld,
      w.lastSeenAt,
    ]);
    term.out(
      formatRows(format, ['worker', 'token', 'provider', 'jobs', 'last seen'], rows, {
        json: list,
        color: term.color,
      }),
    );
    return 0;
  },
};

/** A tenant's own keys. */
export const KEY_COMMANDS: readonly Command[] = [keysList, keysCreate, keysRevoke];

/** The admin commands (an admin token, not an API key). */
export const ADMIN_COMMANDS: readonly Command[] = [
  tenantsCreate,
  tenantsList,
  tenantsDisable,
  tenantsEnable,
  usage,
  keysListAdmin,
  keysIssue,
  keysRevokeAdmin,
  workerTokensList,
  workerTokensIssue,
  workerTokensRevoke,
  workers,
];

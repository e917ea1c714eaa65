// The worker fleet's manifests (compose.yaml, deploy/kubernetes/worker.yaml) checked against the
// worker itself: the fields we use have the shapes compose and Kubernetes define (unknown keys, a
// misspelt `enviroment` for one, fail), every variable is one the worker reads, the values it is
// given pass its own configuration schema, the probes reach the port it listens on, and stopping
// leaves it the time it needs to give its leases back.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { WORKER_ENV_VARS, loadWorkerConfig } from '../../src/gpu-worker/config.js';

const KNOWN_VARS = new Set(Object.values(WORKER_ENV_VARS));
const REQUIRED_VARS = [WORKER_ENV_VARS.edgeUrl, WORKER_ENV_VARS.workerToken];
/** What a worker token looks like, for values that come from a secret. */
const SAMPLE_TOKEN = `hs_worker_${'x'.repeat(32)}`;

/** Seconds a stopping worker may still use: half a lease for running jobs, then giving back. */
function graceNeeded(leaseSeconds: number): number {
  return Math.max(5, leaseSeconds / 2) + 10;
}

const duration = (text: string): number => {
  const match = /^(\d+)(s|m)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
};

// ---- compose.yaml --------------------------------------------------------------------------

const ComposeService = z.strictObject({
  build: z.union([z.string(), z.strictObject({ context: z.string() })]),
  image: z.string().min(1),
  restart: z.enum(['no', 'always', 'on-failure', 'unless-stopped']),
  environment: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/), z.string()),
  volumes: z.array(z.string().regex(/^[\w.-]+:\/[\w/.-]*$/)),
  healthcheck: z.strictObject({
    test: z.array(z.string()).min(2),
    interval: z.string().regex(/^\d+[sm]$/),
    timeout: z.string().regex(/^\d+[sm]$/),
    start_period: z.string().regex(/^\d+[sm]$/),
    retries: z.number().int().positive(),
  }),
  stop_grace_period: z.string().regex(/^\d+[sm]$/),
  deploy: z.strictObject({
    resources: z.strictObject({
      reservations: z.strictObject({
        devices: z.array(
          z.strictObject({
            driver: z.literal('nvidia'),
            count: z.union([z.number().int().positive(), z.literal('all')]),
            capabilities: z.array(z.string()).min(1),
          }),
        ),
      }),
    }),
  }),
});
const Compose = z.strictObject({
  name: z.string(),
  services: z.strictObject({ worker: ComposeService }),
  volumes: z.record(z.string(), z.null()),
});

/** Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}`. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, op, arg: string) => {
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (op === '-') return arg;
    throw new Error(`${name} is required: ${arg}`);
  });
}

describe('compose.yaml', () => {
  const compose = Compose.parse(parse(readFileSync('compose.yaml', 'utf8')));
  const worker = compose.services.worker;
  const shell = {
    HEADSTART_EDGE_URL: 'https://headstart.example.workers.dev',
    HEADSTART_WORKER_TOKEN: SAMPLE_TOKEN,
  };

  it('sets only variables the worker reads, and every required one', () => {
    const names = Object.keys(worker.environment);
    expect(names.filter((n) => !KNOWN_VARS.has(n))).toEqual([]);
    for (const name of REQUIRED_VARS) expect(names).toContain(name);
  });

  it('gives the worker a configuration it accepts, and refuses to start without the edge or token', () => {
    const env = Object.fromEntries(
      Object.entries(worker.environment).map(([k, v]) => [k, interpolate(v, shell)]),
    );
    const config = loadWorkerConfig(env);
    expect(config.edgeUrl).toBe(shell.HEADSTART_EDGE_URL);
    expect(config.provider).toBe('auto');
    expect(config.healthPort).toBeGreaterThan(0);
    // The cache is the mounted volume, or every restart downloads the backbones again.
    expect(worker.volumes.map((v) => v.split(':')[1])).toContain(config.cacheDir);
    expect(() => interpolate(worker.environment.HEADSTART_WORKER_TOKEN!, {})).toThrow(
      /HEADSTART_WORKER_TOKEN is required/,
    );
    expect(() => interpolate(worker.environment.HEADSTART_EDGE_URL!, {})).toThrow(
      /HEADSTART_EDGE_URL is required/,
    );
    // Every named volume is declared.
    for (const volume of worker.volumes)
      expect(Object.keys(compose.volumes)).toContain(volume.split(':')[0]);
  });

  it('checks health on the port the worker listens on, and waits for its leases on stop', () => {
    const config = loadWorkerConfig(
      Object.fromEntries(
        Object.entries(worker.environment).map(([k, v]) => [k, interpolate(v, shell)]),
      ),
    );
    expect(worker.healthcheck.test.join(' ')).toContain(`127.0.0.1:${config.healthPort}/healthz`);
    expect(duration(worker.stop_grace_period)).toBeGreaterThanOrEqual(
      graceNeeded(config.leaseSeconds),
    );
  });
});

// ---- deploy/kubernetes/worker.yaml ---------------------------------------------------------

const EnvVar = z.union([
  z.strictObject({ name: z.string(), value: z.string() }),
  z.strictObject({
    name: z.string(),
    valueFrom: z.union([
      z.strictObject({ secretKeyRef: z.strictObject({ name: z.string(), key: z.string() }) }),
      z.strictObject({ fieldRef: z.strictObject({ fieldPath: z.string() }) }),
    ]),
  }),
]);
const Quantity = z.union([z.string().regex(/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$/), z.number()]);
const Container = z.strictObject({
  name: z.string(),
  image: z.string(),
  env: z.array(EnvVar),
  ports: z.array(z.strictObject({ name: z.string(), containerPort: z.number().int() })),
  readinessProbe: z.strictObject({
    httpGet: z.strictObject({ path: z.string(), port: z.union([z.string(), z.number()]) }),
    initialDelaySeconds: z.number().int(),
    periodSeconds: z.number().int(),
    failureThreshold: z.number().int(),
  }),
  resources: z.strictObject({
    requests: z.record(z.string(), Quantity),
    limits: z.record(z.string(), Quantity),
  }),
  securityContext: z.record(z.string(), z.unknown()),
  volumeMounts: z.array(z.strictObject({ name: z.string(), mountPath: z.string() })),
});
const Deployment = z.strictObject({
  apiVersion: z.literal('apps/v1'),
  kind: z.literal('Deployment'),
  metadata: z.strictObject({ name: z.string(), labels: z.record(z.string(), z.string()) }),
  spec: z.strictObject({
    replicas: z.number().int().positive(),
    selector: z.strictObject({ matchLabels: z.record(z.string(), z.string()) }),
    template: z.strictObject({
      metadata: z.strictObject({ labels: z.record(z.string(), z.string()) }),
      spec: z.strictObject({
        terminationGracePeriodSeconds: z.number().int(),
        securityContext: z.record(z.string(), z.unknown()),
        containers: z.array(Container).length(1),
        volumes: z.array(
          z.strictObject({
            name: z.string(),
            emptyDir: z.strictObject({ sizeLimit: Quantity.optional() }),
          }),
        ),
      }),
    }),
  }),
});

describe('deploy/kubernetes/worker.yaml', () => {
  const deployment = Deployment.parse(parse(readFileSync('deploy/kubernetes/worker.yaml', 'utf8')));
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0]!;

  /** The environment as the pod sees it: secrets as a token would read, fields as the pod name. */
  const podEnv = () =>
    Object.fromEntries(
      container.env.map((v) => [
        v.name,
        'value' in v
          ? v.value
          : 'secretKeyRef' in v.valueFrom
            ? SAMPLE_TOKEN
            : 'headstart-worker-7d9f-abcde',
      ]),
    );

  it('selects the pods it creates', () => {
    expect(deployment.spec.template.metadata.labels).toMatchObject(
      deployment.spec.selector.matchLabels,
    );
  });

  it('sets only variables the worker reads, the token from a Secret, and a configuration it accepts', () => {
    const names = container.env.map((v) => v.name);
    expect(names.filter((n) => !KNOWN_VARS.has(n))).toEqual([]);
    for (const name of REQUIRED_VARS) expect(names).toContain(name);
    expect(new Set(names).size).toBe(names.length);
    const token = container.env.find((v) => v.name === WORKER_ENV_VARS.workerToken)!;
    expect('valueFrom' in token && 'secretKeyRef' in token.valueFrom).toBe(true);
    const config = loadWorkerConfig(podEnv());
    expect(config.provider).toBe('cuda');
    expect(container.volumeMounts.map((m) => m.mountPath)).toContain(config.cacheDir);
    for (const mount of container.volumeMounts)
      expect(pod.volumes.map((v) => v.name)).toContain(mount.name);
  });

  it('probes readiness on the port the worker listens on, with a GPU per pod', () => {
    const config = loadWorkerConfig(podEnv());
    const probe = container.readinessProbe.httpGet;
    expect(probe.path).toBe('/healthz');
    const port =
      typeof probe.port === 'number'
        ? probe.port
        : container.ports.find((p) => p.name === probe.port)?.containerPort;
    expect(port).toBe(config.healthPort);
    expect(container.resources.limits['nvidia.com/gpu']).toBe(1);
  });

  it('gives a terminating pod the time to finish or give back its leases', () => {
    const config = loadWorkerConfig(podEnv());
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(
      graceNeeded(config.leaseSeconds),
    );
  });

  it('catches what it is meant to catch: a misspelt key and an unknown variable', () => {
    const text = readFileSync('deploy/kubernetes/worker.yaml', 'utf8');
    expect(() =>
      Deployment.parse(parse(text.replace('readinessProbe', 'readynessProbe'))),
    ).toThrow();
    const renamed = Deployment.parse(
      parse(text.replace('HEADSTART_WORKER_CONCURRENCY', 'HEADSTART_CONCURRENCY')),
    );
    const names = renamed.spec.template.spec.containers[0]!.env.map((v) => v.name);
    expect(names.filter((n) => !KNOWN_VARS.has(n))).toEqual(['HEADSTART_CONCURRENCY']);
  });
});

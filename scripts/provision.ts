// `npm run provision`: everything a Cloudflare account needs to run Headstart, from wrangler.toml's
// bindings — see scripts/lib/provision.ts for the steps. Idempotent; `--dry-run` prints the
// commands without running any.
import { parseArgs } from 'node:util';
import {
  describePlan,
  ENV_NAME,
  envConfigFile,
  provisionPlan,
  readWranglerConfig,
} from './lib/provision.js';
import { runPlan, StepFailed } from './lib/run-plan.js';

const HELP = `Usage: npm run provision -- [options]

Creates every D1 database, R2 bucket and queue that wrangler.toml binds (when missing), writes
wrangler.<env>.toml with their real ids, applies the D1 migrations remotely, publishes the
backbones, deploys the Worker and creates the first admin token (printed once). Running it again
changes nothing. Needs \`npx wrangler login\` or CLOUDFLARE_API_TOKEN (+ CLOUDFLARE_ACCOUNT_ID).

Options:
  --env <name>          environment (default production): config goes to wrangler.<name>.toml
  --admin-name <name>   name recorded on the first admin token (default "first admin")
  --config <file>       the committed config to start from (default wrangler.toml)
  --dry-run             print every command, in order, and run none
  -h, --help            show this help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'production' },
      'admin-name': { type: 'string', default: 'first admin' },
      config: { type: 'string', default: 'wrangler.toml' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!ENV_NAME.test(values.env)) {
    console.error(`--env must match ${ENV_NAME} (it names ${envConfigFile('<env>')})`);
    return 2;
  }
  const steps = provisionPlan(readWranglerConfig(values.config), values.env);
  if (values['dry-run']) {
    for (const line of describePlan(steps)) console.log(line);
    return 0;
  }
  const report = await runPlan(steps, {
    baseConfig: values.config,
    adminName: values['admin-name'],
  });
  console.log(
    report.created.length === 0
      ? '\nProvisioned: nothing was missing, nothing created.'
      : `\nProvisioned: created ${report.created.join(', ')}.`,
  );
  if (report.adminToken) {
    console.log(
      `\nFirst admin token (shown this once; keep it in a password manager):\n\n  ${report.adminToken}\n\n` +
        'Use it with `headstart --edge <url> --admin-token <token> admin tenants create <name>`.',
    );
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`provision failed: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof StepFailed) {
      console.error(
        'Nothing after that step ran. Fix the cause and run it again (it is idempotent).',
      );
    }
    process.exitCode = 1;
  },
);

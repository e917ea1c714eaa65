// `npm run deploy`: a release to an environment `npm run provision` set up — the D1 migrations
// first (a failed one stops the deploy, so the Worker never runs against an old schema), then the
// widget bundle and the Worker.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  deployPlan,
  describePlan,
  ENV_NAME,
  envConfigFile,
  readWranglerConfig,
} from './lib/provision.js';
import { runPlan, StepFailed } from './lib/run-plan.js';

const HELP = `Usage: npm run deploy -- [options]

Applies the D1 migrations remotely, then builds the widgets and deploys the Worker with
wrangler.<env>.toml (written by \`npm run provision\`). A failed migration stops the deploy.

Options:
  --env <name>   environment (default production)
  --dry-run      print the commands, in order, and run none
  -h, --help     show this help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'production' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!ENV_NAME.test(values.env)) {
    console.error(`--env must match ${ENV_NAME}`);
    return 2;
  }
  const file = envConfigFile(values.env);
  const steps = deployPlan(readWranglerConfig(), values.env);
  if (values['dry-run']) {
    for (const line of describePlan(steps)) console.log(line);
    return 0;
  }
  if (!existsSync(file)) {
    console.error(
      `${file} does not exist: run \`npm run provision -- --env ${values.env}\` first.`,
    );
    return 2;
  }
  await runPlan(steps, { baseConfig: 'wrangler.toml', adminName: 'unused' });
  console.log(`\nDeployed ${values.env}.`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`deploy failed: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof StepFailed) console.error('The Worker was not deployed.');
    process.exitCode = 1;
  },
);

// The headstart command line: the table of commands, configuration, and how errors end a run
// (one line on stderr: 2 for usage and configuration, 1 for everything else).
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { commandHelp, findCommand, mainHelp, parseCommand, stringValue } from './args.js';
import type { Command, CommandContext } from './args.js';
import { HeadstartClient } from './client.js';
import { BACKBONE_COMMANDS } from './commands/backbones.js';
import { CLASSIFY_COMMANDS } from './commands/classify.js';
import { COMPARE_COMMANDS } from './commands/compare.js';
import { DATASET_COMMANDS } from './commands/datasets.js';
import { FINETUNE_COMMANDS } from './commands/finetune.js';
import { HEAD_COMMANDS } from './commands/heads.js';
import { WATCH_COMMANDS } from './commands/watch.js';
import { ADMIN_COMMANDS, KEY_COMMANDS } from './commands/admin.js';
import { defaultConfigFile, processConfig } from './config.js';
import { CliError, UsageError } from './errors.js';
import { processTerminal, type Terminal } from './terminal.js';
import packageJson from '../../package.json' with { type: 'json' };

/** Every command, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [
  ...DATASET_COMMANDS,
  ...BACKBONE_COMMANDS,
  ...FINETUNE_COMMANDS,
  ...WATCH_COMMANDS,
  ...COMPARE_COMMANDS,
  ...HEAD_COMMANDS,
  ...CLASSIFY_COMMANDS,
  ...KEY_COMMANDS,
  ...ADMIN_COMMANDS,
];

const VERSION = packageJson.version;

/** The client for a command: the configured edge, the key checked when the command needs one. */
function clientFactory(command: Command, values: CommandContext['values'], term: Terminal) {
  let client: HeadstartClient | undefined;
  return () => {
    if (client) return client;
    const config = processConfig(
      {
        url: stringValue(values, 'url'),
        key: stringValue(values, 'key'),
        adminToken: stringValue(values, 'admin-token'),
      },
      stringValue(values, 'config'),
    );
    const sources =
      '--key, HEADSTART_API_KEY, the config file ' +
      `(${defaultConfigFile(process.env, '~')}) or a local system's .headstart/local.json`;
    if (command.key === 'required' && !config.apiKey)
      throw new UsageError(`no API key: give one with ${sources}`);
    if (command.key === 'admin' && !config.adminToken)
      throw new UsageError(
        "no admin token: give one with --admin-token, HEADSTART_ADMIN_TOKEN, the config file, or a local system's .headstart/local.json (npm start writes one)",
      );
    if (!config.url)
      throw new UsageError(`no edge URL: give one with --url, HEADSTART_URL, or the config file`);
    const log = values.verbose ? (line: string) => term.err(`headstart: ${line}\n`) : undefined;
    log?.(
      `edge ${config.url} (from ${config.urlSource}), key from ${config.keySource ?? 'nowhere'}`,
    );
    client = new HeadstartClient({
      baseUrl: config.url,
      // The admin API takes the admin token in place of a key, and nothing else does.
      apiKey: command.key === 'admin' ? config.adminToken : config.apiKey,
      log,
      notice: (line) => term.err(`headstart: ${line}\n`),
    });
    return client;
  };
}

/**
 * Runs the CLI on `argv` (without node and the script) and resolves with the exit code.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[], term = processTerminal()): Promise<number> {
  try {
    if (argv.includes('--version') && !argv.includes('--help')) {
      term.out(`${VERSION}\n`);
      return 0;
    }
    const { command, words, rest } = findCommand(COMMANDS, argv);
    if (!command) {
      const asksHelp = argv.length === 0 || argv.includes('--help') || argv.includes('-h');
      if (asksHelp || words.length === 0) {
        (asksHelp ? term.out : term.err)(mainHelp(COMMANDS, VERSION));
        return asksHelp ? 0 : 2;
      }
      const group = COMMANDS.filter((c) => c.name.startsWith(`${words[0]} `));
      const hint = group.length > 0 ? `; try ${group.map((c) => `"${c.name}"`).join(', ')}` : '';
      throw new UsageError(`unknown command "${words.join(' ')}"${hint} (headstart --help)`);
    }
    const { values, positionals } = parseCommand(command.options, rest);
    if (values.help) {
      term.out(commandHelp(command));
      return 0;
    }
    const client = clientFactory(command, values, term);
    return await command.run({ term, client, values, positionals });
  } catch (err) {
    if (err instanceof CliError) {
      term.err(`headstart: ${err.message.split('\n')[0]}\n`);
      return err.exitCode;
    }
    // A bug rather than a refusal: still one line, the stack only with --verbose.
    const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
    term.err(`headstart: unexpected error: ${detail}\n`);
    if ((argv.includes('--verbose') || argv.includes('-v')) && err instanceof Error)
      term.err(`${err.stack}\n`);
    return 1;
  }
}

// Run when executed directly (tsx, npm run cli); bin/headstart.mjs imports the bundle and calls main.
const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href)
  process.exitCode = await main(process.argv.slice(2));

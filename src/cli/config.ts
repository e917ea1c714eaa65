// Where the CLI finds the edge and the API key: flags, then the environment, then the config
// file, then the local system that `npm start` runs (.headstart/local.json, found upwards).
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.js';

/** Where each setting came from, for --verbose and error messages. */
export type ConfigSource = 'flag' | 'env' | 'config' | 'local';

export interface ResolvedConfig {
  readonly url: string | undefined;
  readonly apiKey: string | undefined;
  readonly urlSource: ConfigSource | undefined;
  readonly keySource: ConfigSource | undefined;
  /** For `headstart admin …`: an admin token, from the same sources as the key. */
  readonly adminToken: string | undefined;
}

export interface ConfigInputs {
  readonly flags: {
    readonly url?: string | undefined;
    readonly key?: string | undefined;
    readonly adminToken?: string | undefined;
  };
  readonly configFile?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly home: string;
}

const ConfigFileSchema = z.object({
  url: z.string().optional(),
  apiKey: z.string().optional(),
  adminToken: z.string().optional(),
});

const nonEmpty = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v);

function readJsonFile(file: string, what: string): z.infer<typeof ConfigFileSchema> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`${what} ${file} is not valid JSON`);
  }
  const parsed = ConfigFileSchema.safeParse(value);
  if (!parsed.success)
    throw new UsageError(`${what} ${file} should hold { "url": "…", "apiKey": "…" } strings`);
  return parsed.data;
}

/** The config file: `--config`, else $XDG_CONFIG_HOME or ~/.config, `headstart/config.json`. */
export function defaultConfigFile(env: NodeJS.ProcessEnv, home: string): string {
  const base = nonEmpty(env.XDG_CONFIG_HOME) ?? path.join(home, '.config');
  return path.join(base, 'headstart', 'config.json');
}

/** `.headstart/local.json` in `cwd` or the nearest folder above it. */
export function findLocalFile(cwd: string): string | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const file = path.join(dir, '.headstart', 'local.json');
    if (existsSync(file)) return file;
    if (path.dirname(dir) === dir) return undefined;
  }
}

/**
 * Resolves the edge URL and API key, each from the first source that has it: `--url`/`--key`,
 * HEADSTART_URL/HEADSTART_API_KEY, the config file, then the local system's file. The local
 * system's key is only used for the local system's URL, so it never travels to another edge.
 *
 * @example
 * resolveConfig({ flags: {}, env: process.env, cwd: process.cwd(), home: os.homedir() });
 */
export function resolveConfig(inputs: ConfigInputs): ResolvedConfig {
  const explicitFile = nonEmpty(inputs.configFile);
  const configPath = explicitFile ?? defaultConfigFile(inputs.env, inputs.home);
  const file =
    explicitFile !== undefined || existsSync(configPath)
      ? readJsonFile(configPath, 'config file')
      : {};
  const localPath = findLocalFile(inputs.cwd);
  const local = localPath ? readJsonFile(localPath, 'local system file') : {};
  const layers: [ConfigSource, string | undefined, string | undefined][] = [
    ['flag', nonEmpty(inputs.flags.url), nonEmpty(inputs.flags.key)],
    ['env', nonEmpty(inputs.env.HEADSTART_URL), nonEmpty(inputs.env.HEADSTART_API_KEY)],
    ['config', nonEmpty(file.url), nonEmpty(file.apiKey)],
  ];
  const urlLayer = layers.find(([, url]) => url !== undefined);
  const keyLayer = layers.find(([, , key]) => key !== undefined);
  const localUrl = nonEmpty(local.url)?.replace(/\/+$/, '');
  let url = urlLayer?.[1]?.replace(/\/+$/, '');
  let urlSource: ConfigSource | undefined = urlLayer?.[0];
  if (url === undefined && localUrl !== undefined) [url, urlSource] = [localUrl, 'local'];
  let apiKey = keyLayer?.[2];
  let keySource: ConfigSource | undefined = keyLayer?.[0];
  if (apiKey === undefined && nonEmpty(local.apiKey) !== undefined && url === localUrl)
    [apiKey, keySource] = [local.apiKey, 'local'];
  // The admin token follows the same order, and the local one also stays with the local edge.
  const adminToken =
    nonEmpty(inputs.flags.adminToken) ??
    nonEmpty(inputs.env.HEADSTART_ADMIN_TOKEN) ??
    nonEmpty(file.adminToken) ??
    (url === localUrl ? nonEmpty(local.adminToken) : undefined);
  return { url, apiKey, urlSource, keySource, adminToken };
}

/** resolveConfig for this process. */
export function processConfig(flags: ConfigInputs['flags'], configFile?: string): ResolvedConfig {
  return resolveConfig({
    flags,
    configFile,
    env: process.env,
    cwd: process.cwd(),
    home: os.homedir(),
  });
}

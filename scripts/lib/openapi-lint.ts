// Lints an OpenAPI document with Redocly's recommended rules (the rules `redocly lint` applies by
// default), returning each problem as one readable line.
import { createConfig, lintFromString } from '@redocly/openapi-core';

export interface LintProblem {
  readonly severity: 'error' | 'warn';
  readonly rule: string;
  readonly where: string;
  readonly message: string;
}

/**
 * @example
 * const problems = await lintOpenApi(await (await fetch(`${url}/openapi.json`)).text());
 */
export async function lintOpenApi(source: string): Promise<LintProblem[]> {
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config });
  return problems
    .filter((p) => p.severity === 'error' || p.severity === 'warn')
    .map((p) => ({
      severity: p.severity,
      rule: p.ruleId,
      where: p.location[0]?.pointer ?? '',
      message: p.message,
    }));
}

export const describeProblem = (p: LintProblem) =>
  `${p.severity} ${p.rule} at ${p.where}: ${p.message}`;

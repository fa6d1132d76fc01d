// `--list` and `--status` as wsl.exe prints them, and as JSON for scripts.

import type { components } from '../client/openapi.js';
import type { Connection } from './connect.js';
import { failureFromAnswer } from './failure.js';

type Distribution = components['schemas']['Distribution'];

export interface ListOptions {
  all: boolean;
  running: boolean;
  quiet: boolean;
  verbose: boolean;
  json: boolean;
}

/** Every distribution, page after page. */
export async function allDistributions(connection: Connection): Promise<Distribution[]> {
  const found: Distribution[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await connection.client.api.GET('/v1/distributions', { params: { query: { limit: 1000, after } } });
    if (!page.data) throw failureFromAnswer(page.response.status, page.error);
    found.push(...page.data.distributions);
    if (!page.data.next) return found;
    after = page.data.next;
  }
}

/** wsl.exe shows an installed distribution that is not running as Stopped. */
export function shownState(distribution: Distribution): string {
  return distribution.state === 'Installed' ? 'Stopped' : distribution.state;
}

export function selectDistributions(distributions: Distribution[], options: Pick<ListOptions, 'all' | 'running'>): Distribution[] {
  return distributions.filter((d) => {
    if (options.running) return d.state === 'Running';
    return options.all || d.state === 'Installed' || d.state === 'Running';
  });
}

export function formatList(distributions: Distribution[], options: ListOptions): string {
  if (options.json) return `${JSON.stringify(distributions, null, 2)}\n`;
  if (options.quiet) return distributions.map((d) => `${d.name}\n`).join('');
  if (distributions.length === 0) {
    return options.running ? 'There are no running distributions.\n' : 'lxssd has no installed distributions.\n';
  }
  if (!options.verbose) {
    return `lxssd distributions:\n${distributions.map((d) => `${d.name}${d.isDefault ? ' (Default)' : ''}\n`).join('')}`;
  }
  const rows: Array<[string, string, string, boolean]> = [
    ['NAME', 'STATE', 'VERSION', false],
    ...distributions.map((d): [string, string, string, boolean] => [d.name, shownState(d), String(d.version), d.isDefault]),
  ];
  const nameWidth = Math.max(...rows.map((row) => row[0].length)) + 4;
  const stateWidth = Math.max(...rows.map((row) => row[1].length)) + 4;
  return rows.map(([name, state, version, isDefault]) => `${isDefault ? '*' : ' '} ${name.padEnd(nameWidth)}${state.padEnd(stateWidth)}${version}\n`).join('');
}

export async function status(connection: Connection, json: boolean): Promise<string> {
  const [fallback, version, vm] = await Promise.all([
    connection.client.api.GET('/v1/default-distribution'),
    connection.client.api.GET('/v1/version'),
    connection.client.api.GET('/v1/vm'),
  ]);
  if (!version.data) throw failureFromAnswer(version.response.status, version.error);
  if (!vm.data) throw failureFromAnswer(vm.response.status, vm.error);
  const defaultName = fallback.data?.name ?? null;
  if (json) return `${JSON.stringify({ defaultDistribution: defaultName, version: version.data, vm: vm.data }, null, 2)}\n`;
  const lines = [
    `Default Distribution: ${defaultName ?? '(none)'}`,
    `Default Version: 2`,
    `lxssd version: ${version.data.version} (API ${version.data.apiVersion}, ${version.data.platform}/${version.data.arch}, ${version.data.backend})`,
    `Server: ${connection.describe}`,
    `VM: ${vm.data.state}${vm.data.pid ? ` (pid ${vm.data.pid}, ${vm.data.instances.length} running)` : ''}`,
  ];
  return `${lines.join('\n')}\n`;
}

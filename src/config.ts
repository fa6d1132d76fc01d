// The service configuration: one schema, resolved once from defaults, the INI config file, LXSSD_*
// variables and flags (in rising precedence), validated and frozen. Only main.ts reads the environment.

import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parse as parseIni } from 'ini';

export const ConfigSchema = Type.Object(
  {
    /** loopback TCP listener */
    listen: Type.Object({ host: Type.String(), port: Type.Integer({ minimum: 0, maximum: 65535 }) }),
    /** the local (Unix) socket, where the kernel proves the caller */
    socketPath: Type.String({ minLength: 1 }),
    stateDir: Type.String({ minLength: 1 }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
    ),
    /** WSL's [general] instanceIdleTimeout, ms; negative: never */
    instanceIdleTimeout: Type.Integer(),
    /** WSL's [wsl2] vmIdleTimeout, ms; negative: never */
    vmIdleTimeout: Type.Integer(),
    /** failed authentications allowed per client address per window (then 429; a valid token is never refused) */
    authFailureLimit: Type.Integer({ minimum: 1 }),
    /** failed authentications allowed from all addresses together per window */
    authFailureGlobalLimit: Type.Integer({ minimum: 1 }),
    authFailureWindowMs: Type.Integer({ minimum: 1 }),
    /** connections held at once on both listeners together (and never into the descriptors kept in reserve) */
    maxConnections: Type.Integer({ minimum: 1 }),
    /** connections one peer may hold: a user (uid on the local socket, token on TCP), or a TCP address before it authenticates */
    maxConnectionsPerPeer: Type.Integer({ minimum: 1 }),
    /** ms a client may take to send a request's headers (also: a new connection that sends nothing) */
    headersTimeout: Type.Integer({ minimum: 1 }),
    /** ms an idle keep-alive connection is kept */
    keepAliveTimeout: Type.Integer({ minimum: 1 }),
    /** ms a request body may take in all; streamed bodies (imports) are exempt and bounded by bodyIdleTimeout */
    bodyTimeout: Type.Integer({ minimum: 1 }),
    /** ms a request body (an import's included) may go without a byte before it is cut */
    bodyIdleTimeout: Type.Integer({ minimum: 1 }),
    /** the largest unpacked tar an import may write, in bytes */
    maxImportBytes: Type.Integer({ minimum: 1 }),
    /** the most entries (files, folders, links: inodes) an import may create */
    maxImportEntries: Type.Integer({ minimum: 1 }),
    /** how long an exited process stays listed, ms */
    processRetentionMs: Type.Integer({ minimum: 0 }),
    /** running processes one user may have at once (each holds descriptors and up to 1 MiB of unread output) */
    maxProcesses: Type.Integer({ minimum: 1 }),
    /** output one user's `run`s in progress may hold at once, bytes (each reserves 2 × its maxOutputBytes) */
    maxRunOutputBytes: Type.Integer({ minimum: 1 }),
    /** WebSockets and event streams one user may hold open at once (each may buffer up to 1 MiB for its reader) */
    maxStreams: Type.Integer({ minimum: 1 }),
    /** give a user without a range in /etc/subuid and /etc/subgid one (lxssd then edits those files) */
    allocateSubordinateIds: Type.Boolean(),
    /** where subuid, subgid and login.defs are read (and, with allocateSubordinateIds, written) */
    idFilesDir: Type.String({ pattern: '^/' }),
    /** WSL's [wsl2] memory: the most memory a user's VM may use, bytes; null: half the host's (at least 256 MiB) */
    memoryBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    /** WSL's [wsl2] swap, bytes (0: none); null: a quarter of the memory, rounded up to a whole GiB */
    swapBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    /** WSL's [wsl2] processors: CPUs' worth of time a user's VM may use; null: all of the host's */
    processors: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    /** processes (and threads) a user's VM may have at once, [wsl2] maxPids */
    maxPids: Type.Integer({ minimum: 16 }),
    /** host folders shared into every instance under the automount root (WSL's drvfs); `~` is the user's home */
    sharedFolders: Type.Array(
      Type.Object({ name: Type.String({ pattern: '^[a-zA-Z0-9._-]{1,64}$' }), hostPath: Type.String({ pattern: '^(~|~/.*|/.*)$' }) }),
    ),
  },
  { additionalProperties: false },
);

export type Config = Readonly<Static<typeof ConfigSchema>>;

export const DEFAULT_PORT = 7071;

/** Thrown for a configuration the service must not start with; the message is for the operator. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Where a setting can be given, each overriding the one before. */
export interface ConfigSources {
  isRoot: boolean;
  home: string;
  /** parsed from the config file, if any */
  fileText?: string;
  filePath?: string;
  /** the LXSSD_* variables */
  env: Readonly<Record<string, string | undefined>>;
  flags: Partial<Record<'listen' | 'socket' | 'stateDir' | 'logLevel', string>>;
}

/** The config file's keys: [lxssd] for ours, and WSL's own section and key names where WSL has the setting. */
const FILE_KEYS = {
  'lxssd.listen': 'listen',
  'lxssd.socket': 'socket',
  'lxssd.stateDir': 'stateDir',
  'lxssd.logLevel': 'logLevel',
  'lxssd.authFailureLimit': 'authFailureLimit',
  'lxssd.authFailureGlobalLimit': 'authFailureGlobalLimit',
  'lxssd.authFailureWindowMs': 'authFailureWindowMs',
  'lxssd.maxConnections': 'maxConnections',
  'lxssd.maxConnectionsPerPeer': 'maxConnectionsPerPeer',
  'lxssd.headersTimeout': 'headersTimeout',
  'lxssd.keepAliveTimeout': 'keepAliveTimeout',
  'lxssd.bodyTimeout': 'bodyTimeout',
  'lxssd.bodyIdleTimeout': 'bodyIdleTimeout',
  'lxssd.maxImportBytes': 'maxImportBytes',
  'lxssd.maxImportEntries': 'maxImportEntries',
  'lxssd.processRetentionMs': 'processRetentionMs',
  'lxssd.maxProcesses': 'maxProcesses',
  'lxssd.maxRunOutputBytes': 'maxRunOutputBytes',
  'lxssd.maxStreams': 'maxStreams',
  'lxssd.allocateSubordinateIds': 'allocateSubordinateIds',
  'lxssd.idFilesDir': 'idFilesDir',
  'automount.sharedFolders': 'sharedFolders',
  'general.instanceIdleTimeout': 'instanceIdleTimeout',
  'wsl2.vmIdleTimeout': 'vmIdleTimeout',
  'wsl2.memory': 'memory',
  'wsl2.swap': 'swap',
  'wsl2.processors': 'processors',
  'wsl2.maxPids': 'maxPids',
} as const;

const ENV_KEYS = {
  LXSSD_LISTEN: 'listen',
  LXSSD_SOCKET: 'socket',
  LXSSD_STATE_DIR: 'stateDir',
  LXSSD_LOG_LEVEL: 'logLevel',
} as const;

type RawKey = (typeof FILE_KEYS)[keyof typeof FILE_KEYS];

export function defaultStateDir(isRoot: boolean, home: string): string {
  return isRoot ? '/var/lib/lxssd' : join(home, '.local', 'state', 'lxssd');
}

export function defaultSocketPath(isRoot: boolean, stateDir: string): string {
  return isRoot ? '/run/lxssd/lxssd.sock' : join(stateDir, 'lxssd.sock');
}

/** Where the config file is looked for when none is named. */
export function defaultConfigPath(isRoot: boolean, home: string): string {
  return isRoot ? '/etc/lxssd/lxssd.conf' : join(home, '.config', 'lxssd', 'lxssd.conf');
}

/** True for 127.0.0.0/8 and ::1: the only addresses lxssd may listen on. */
export function isLoopbackAddress(host: string): boolean {
  if (isIP(host) === 4) return host.split('.')[0] === '127';
  if (isIP(host) === 6) return /^(0{0,4}:){2,7}0{0,3}1$|^::1$/.test(host.toLowerCase());
  return false;
}

/** Parses `HOST:PORT`, `[V6]:PORT`, `HOST` or `:PORT`, refusing anything that is not loopback. */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match) throw new ConfigError(`listen address "${value}" is not HOST:PORT`);
  let host = match[1] ?? match[2] ?? '';
  if (host === '' || host === 'localhost') host = '127.0.0.1';
  const port = match[3] === undefined ? DEFAULT_PORT : Number(match[3]);
  if (port > 65535) throw new ConfigError(`listen port ${port} is out of range`);
  if (!isLoopbackAddress(host)) {
    throw new ConfigError(
      `refusing to listen on ${host}: lxssd listens on loopback only (127.0.0.0/8 or ::1), ` +
        'because anyone who reaches the port could try to drive distributions',
    );
  }
  return { host, port };
}

function parseBoolean(key: string, value: string): boolean {
  const lower = value.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  throw new ConfigError(`${key} must be true or false, not "${value}"`);
}

function parseInteger(key: string, value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new ConfigError(`${key} must be an integer, not "${value}"`);
  return Number(value);
}

/**
 * A size as WSL's .wslconfig takes it (ParseMemorySize): decimal digits (leading blanks allowed) and an optional
 * suffix B, K/KB, M/MB, G/GB or T/TB in powers of 1024, no blank before it; no suffix is bytes. Undefined otherwise.
 */
export function parseMemorySize(value: string): number | undefined {
  const match = /^[ \t]*(\d+)([KMGT]?B?)?$/i.exec(value);
  if (!match) return undefined;
  const shift = { '': 0, K: 10, M: 20, G: 30, T: 40 }[(match[2] ?? '').replace(/b$/i, '').toUpperCase()] ?? 0;
  const bytes = Number(match[1]) * 2 ** shift;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

function parseSize(key: string, value: string): number {
  const bytes = parseMemorySize(value);
  if (bytes === undefined) throw new ConfigError(`${key} must be a size like 4GB or 512MB, not "${value}"`);
  return bytes;
}

/** `name=path,name=path`; an empty value shares nothing. */
function parseSharedFolders(value: string): Array<{ name: string; hostPath: string }> {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const at = item.indexOf('=');
      if (at <= 0) throw new ConfigError(`sharedFolders entry "${item}" is not NAME=PATH`);
      return { name: item.slice(0, at).trim(), hostPath: item.slice(at + 1).trim() };
    });
}

function readFileSettings(text: string, path: string): Partial<Record<RawKey, string>> {
  const parsed = parseIni(text) as Record<string, unknown>;
  const settings: Partial<Record<RawKey, string>> = {};
  for (const [section, body] of Object.entries(parsed)) {
    if (typeof body !== 'object' || body === null) {
      throw new ConfigError(`${path}: "${section}" is outside any section; put it under [lxssd]`);
    }
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      const name = `${section}.${key}`;
      if (!Object.hasOwn(FILE_KEYS, name)) throw new ConfigError(`${path}: unknown setting [${section}] ${key}`);
      settings[FILE_KEYS[name as keyof typeof FILE_KEYS]] = String(value);
    }
  }
  return settings;
}

export function resolveConfig(sources: ConfigSources): Config {
  const raw: Partial<Record<RawKey, string>> = {};
  if (sources.fileText !== undefined) {
    Object.assign(raw, readFileSettings(sources.fileText, sources.filePath ?? 'config file'));
  }
  for (const [variable, key] of Object.entries(ENV_KEYS)) {
    const value = sources.env[variable];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  for (const [flag, value] of Object.entries(sources.flags)) {
    if (value !== undefined) raw[flag as RawKey] = value;
  }

  const stateDir = raw.stateDir ?? defaultStateDir(sources.isRoot, sources.home);
  const config = {
    listen: parseListen(raw.listen ?? `127.0.0.1:${DEFAULT_PORT}`),
    socketPath: raw.socket ?? defaultSocketPath(sources.isRoot, stateDir),
    stateDir,
    logLevel: raw.logLevel ?? 'info',
    instanceIdleTimeout: parseInteger('instanceIdleTimeout', raw.instanceIdleTimeout ?? '15000'),
    vmIdleTimeout: parseInteger('vmIdleTimeout', raw.vmIdleTimeout ?? '60000'),
    authFailureLimit: parseInteger('authFailureLimit', raw.authFailureLimit ?? '10'),
    authFailureGlobalLimit: parseInteger('authFailureGlobalLimit', raw.authFailureGlobalLimit ?? '100'),
    authFailureWindowMs: parseInteger('authFailureWindowMs', raw.authFailureWindowMs ?? '60000'),
    maxConnections: parseInteger('maxConnections', raw.maxConnections ?? '4096'),
    maxConnectionsPerPeer: parseInteger('maxConnectionsPerPeer', raw.maxConnectionsPerPeer ?? '512'),
    headersTimeout: parseInteger('headersTimeout', raw.headersTimeout ?? '30000'),
    keepAliveTimeout: parseInteger('keepAliveTimeout', raw.keepAliveTimeout ?? '72000'),
    bodyTimeout: parseInteger('bodyTimeout', raw.bodyTimeout ?? '60000'),
    bodyIdleTimeout: parseInteger('bodyIdleTimeout', raw.bodyIdleTimeout ?? '60000'),
    maxImportBytes: parseInteger('maxImportBytes', raw.maxImportBytes ?? String(256 * 1024 ** 3)),
    maxImportEntries: parseInteger('maxImportEntries', raw.maxImportEntries ?? '10000000'),
    processRetentionMs: parseInteger('processRetentionMs', raw.processRetentionMs ?? '300000'),
    maxProcesses: parseInteger('maxProcesses', raw.maxProcesses ?? '512'),
    maxRunOutputBytes: parseInteger('maxRunOutputBytes', raw.maxRunOutputBytes ?? String(256 * 1024 * 1024)),
    maxStreams: parseInteger('maxStreams', raw.maxStreams ?? '256'),
    sharedFolders: parseSharedFolders(raw.sharedFolders ?? 'home=~'),
    allocateSubordinateIds: parseBoolean('allocateSubordinateIds', raw.allocateSubordinateIds ?? 'false'),
    idFilesDir: raw.idFilesDir ?? '/etc',
    memoryBytes: raw.memory === undefined ? null : parseSize('memory', raw.memory),
    swapBytes: raw.swap === undefined ? null : parseSize('swap', raw.swap),
    processors: raw.processors === undefined ? null : parseInteger('processors', raw.processors),
    maxPids: parseInteger('maxPids', raw.maxPids ?? '4096'),
  };
  const problems = [...Value.Errors(ConfigSchema, config)];
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new ConfigError(`invalid setting ${first.path.slice(1) || '(root)'}: ${first.message}`);
  }
  return Object.freeze(config) as Config;
}

// The service configuration: one schema, resolved once from defaults, the INI config file, LXSSD_*
// variables and flags (in rising precedence), validated and frozen. Only main.ts reads the environment.

import { Kind, Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parse as parseIni } from 'ini';
import { StringEnum } from './core/string-enum.js';

/**
 * What a setting says about itself besides its type: its INI key (`section.key`, WSL's own where WSL has the
 * setting), its default (absent: one that depends on who runs the service, see contextDefault), what the
 * configuration reference shows as its value when the default is "decided at run time", and how its text is read.
 */
export interface SettingOptions {
  ini: `${'lxssd' | 'general' | 'wsl2' | 'automount'}.${string}`;
  description: string;
  default?: unknown;
  /** the value the reference shows when the default is null (decided from the host) */
  example?: string;
  /** how the text is read, when the type alone does not say */
  read?: 'size' | 'listen' | 'folders';
  /** the LXSSD_* variable that may give it */
  env?: string;
  /** the `lxssd serve` flag that may give it */
  flag?: 'listen' | 'socket' | 'stateDir' | 'logLevel';
}

function setting<T extends TSchema>(type: (options: SettingOptions) => T, options: SettingOptions): T {
  return type(options);
}

const integer = (minimum?: number) => (options: SettingOptions) => Type.Integer({ ...options, ...(minimum === undefined ? {} : { minimum }) });
const nullableInteger = (minimum: number) => (options: SettingOptions) => Type.Union([Type.Integer({ minimum }), Type.Null()], options);

/**
 * Every setting, once: its type, INI key, default and description. resolveConfig reads them from here, and the
 * README's configuration block is this schema written out (configReference; test/unit/config-reference checks it).
 */
export const ConfigSchema = Type.Object(
  {
    listen: setting((o) => Type.Object({ host: Type.String(), port: Type.Integer({ minimum: 0, maximum: 65535 }) }, o), {
      ini: 'lxssd.listen', default: { host: '127.0.0.1', port: 7071 }, read: 'listen', env: 'LXSSD_LISTEN', flag: 'listen',
      description: 'loopback only: any other address is refused at start',
    }),
    socketPath: setting((o) => Type.String({ ...o, minLength: 1 }), {
      ini: 'lxssd.socket', env: 'LXSSD_SOCKET', flag: 'socket', example: '/run/lxssd/lxssd.sock',
      description: 'default: this for root, <stateDir>/lxssd.sock otherwise',
    }),
    stateDir: setting((o) => Type.String({ ...o, minLength: 1 }), {
      ini: 'lxssd.stateDir', env: 'LXSSD_STATE_DIR', flag: 'stateDir', example: '/var/lib/lxssd',
      description: 'default: this for root, ~/.local/state/lxssd otherwise',
    }),
    logLevel: setting((o) => StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], o), {
      ini: 'lxssd.logLevel', default: 'info', env: 'LXSSD_LOG_LEVEL', flag: 'logLevel',
      description: 'fatal, error, warn, info, debug, trace or silent',
    }),
    authFailureLimit: setting(integer(1), {
      ini: 'lxssd.authFailureLimit', default: 10, description: 'failed TCP authentications per address per window, then 429',
    }),
    authFailureGlobalLimit: setting(integer(1), {
      ini: 'lxssd.authFailureGlobalLimit', default: 100, description: 'failed TCP authentications from all addresses together per window, then 429',
    }),
    authFailureWindowMs: setting(integer(1), { ini: 'lxssd.authFailureWindowMs', default: 60000, description: 'the window of both, ms' }),
    maxConnections: setting(integer(1), {
      ini: 'lxssd.maxConnections', default: 4096, description: 'connections held at once, both listeners together (503 past it)',
    }),
    maxConnectionsPerPeer: setting(integer(1), {
      ini: 'lxssd.maxConnectionsPerPeer', default: 512, description: 'per user (uid on the socket, token on TCP), or per TCP address before it authenticates',
    }),
    headersTimeout: setting(integer(1), {
      ini: 'lxssd.headersTimeout', default: 30000, description: "ms to send a request's headers (a connection that sends nothing is closed too)",
    }),
    keepAliveTimeout: setting(integer(1), { ini: 'lxssd.keepAliveTimeout', default: 72000, description: 'ms an idle keep-alive connection is kept' }),
    bodyTimeout: setting(integer(1), {
      ini: 'lxssd.bodyTimeout', default: 60000, description: 'ms a JSON body may take in all (imports are exempt: they take as long as they take)',
    }),
    bodyIdleTimeout: setting(integer(1), {
      ini: 'lxssd.bodyIdleTimeout', default: 60000, description: "ms in which any body, an import's included, must bring 16 KiB (else 408, and undone)",
    }),
    maxImportBytes: setting(integer(1), {
      ini: 'lxssd.maxImportBytes', default: 256 * 1024 ** 3, description: 'the largest unpacked archive an import may write (256 GiB)',
    }),
    maxImportEntries: setting(integer(1), { ini: 'lxssd.maxImportEntries', default: 10_000_000, description: 'the most entries (inodes) an import may create' }),
    processRetentionMs: setting(integer(0), { ini: 'lxssd.processRetentionMs', default: 300000, description: 'how long an exited process stays listed, ms' }),
    maxProcesses: setting(integer(1), {
      ini: 'lxssd.maxProcesses', default: 512, description: 'running processes per user (409 past it); the list keeps at most this many',
    }),
    maxRunOutputBytes: setting(integer(1), {
      ini: 'lxssd.maxRunOutputBytes', default: 256 * 1024 * 1024, description: "output all of one user's runs in progress may hold (each: 2 × maxOutputBytes)",
    }),
    maxStreams: setting(integer(1), { ini: 'lxssd.maxStreams', default: 256, description: 'open WebSockets and event streams per user (409 past it)' }),
    allocateSubordinateIds: setting((o) => Type.Boolean(o), {
      ini: 'lxssd.allocateSubordinateIds', default: false,
      description: 'true: give a user without a /etc/subuid range one (see "User namespaces and id ranges")',
    }),
    idFilesDir: setting((o) => Type.String({ ...o, pattern: '^/' }), {
      ini: 'lxssd.idFilesDir', default: '/etc', description: 'where subuid, subgid and login.defs are read (tests point it at copies)',
    }),
    instanceIdleTimeout: setting(integer(), {
      ini: 'general.instanceIdleTimeout', default: 15000, description: "WSL's key: ms before an instance with no process stops; negative: never",
    }),
    vmIdleTimeout: setting(integer(), {
      ini: 'wsl2.vmIdleTimeout', default: 60000, description: "WSL's key: ms before a user's VM with no instance stops; negative: never",
    }),
    memoryBytes: setting(nullableInteger(0), {
      ini: 'wsl2.memory', default: null, example: '4GB', read: 'size',
      description: "WSL's key: most memory a user's VM may use; default half the host's (at least 256MB)",
    }),
    swapBytes: setting(nullableInteger(0), {
      ini: 'wsl2.swap', default: null, example: '1GB', read: 'size',
      description: "WSL's key: swap besides it; default a quarter of memory rounded up to a GB; 0: none",
    }),
    processors: setting(nullableInteger(1), {
      ini: 'wsl2.processors', default: null, example: '2', description: "WSL's key: CPUs' worth of time per VM; default all of the host's",
    }),
    maxPids: setting(integer(16), { ini: 'wsl2.maxPids', default: 4096, description: "processes and threads per user's VM (see Resource limits)" }),
    sharedFolders: setting(
      (o) => Type.Array(Type.Object({ name: Type.String({ pattern: '^[a-zA-Z0-9._-]{1,64}$' }), hostPath: Type.String({ pattern: '^(~|~/.*|/.*)$' }) }), o),
      {
        ini: 'automount.sharedFolders', default: [{ name: 'home', hostPath: '~' }], read: 'folders',
        description: "NAME=HOSTPATH,... shared at <automount root>/NAME; ~ is the user's home",
      },
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

type Settings = TObject<Record<string, TSchema>>;
type SettingSchema = TSchema & SettingOptions;

/** The INI key's own name (`memory` for `wsl2.memory`): what messages call a setting, as its writer does. */
function keyName(property: SettingSchema): string {
  return property.ini.slice(property.ini.indexOf('.') + 1);
}

function readFileSettings(text: string, path: string, schema: Settings): Record<string, string> {
  const byIni = new Map<string, string>(Object.entries(schema.properties).map(([name, property]) => [(property as SettingSchema).ini, name]));
  const parsed = parseIni(text) as Record<string, unknown>;
  const settings: Record<string, string> = {};
  for (const [section, body] of Object.entries(parsed)) {
    if (typeof body !== 'object' || body === null) {
      throw new ConfigError(`${path}: "${section}" is outside any section; put it under [lxssd]`);
    }
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      const name = byIni.get(`${section}.${key}`);
      if (name === undefined) throw new ConfigError(`${path}: unknown setting [${section}] ${key}`);
      settings[name] = String(value);
    }
  }
  return settings;
}

/** A setting's text as its type (or its `read`) says; the schema checks the result afterwards. */
function readValue(property: SettingSchema, text: string): unknown {
  const key = keyName(property);
  if (property.read === 'listen') return parseListen(text);
  if (property.read === 'folders') return parseSharedFolders(text);
  if (property.read === 'size') return parseSize(key, text);
  const types = property.anyOf ? (property.anyOf as TSchema[]).map((member) => member[Kind]) : [property[Kind]];
  if (types.includes('Integer')) return parseInteger(key, text);
  if (types.includes('Boolean')) return parseBoolean(key, text);
  return text;
}

/**
 * Resolves every setting of `schema` (the service's, unless a test brings its own) from, in rising precedence,
 * its default, the config file, its LXSSD_* variable and its flag; validated against the schema and frozen.
 */
export function resolveConfig(sources: ConfigSources): Config;
export function resolveConfig<S extends Settings>(sources: ConfigSources, schema: S): Readonly<Static<S>>;
export function resolveConfig(sources: ConfigSources, schema: Settings = ConfigSchema): unknown {
  const texts: Record<string, string> = sources.fileText === undefined ? {} : readFileSettings(sources.fileText, sources.filePath ?? 'config file', schema);
  for (const [name, raw] of Object.entries(schema.properties)) {
    const property = raw as SettingSchema;
    const fromEnv = property.env === undefined ? undefined : sources.env[property.env];
    if (fromEnv !== undefined && fromEnv !== '') texts[name] = fromEnv;
    const fromFlag = property.flag === undefined ? undefined : sources.flags[property.flag];
    if (fromFlag !== undefined) texts[name] = fromFlag;
  }
  const config: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(schema.properties)) {
    const property = raw as SettingSchema;
    const text = texts[name];
    config[name] = text === undefined ? structuredClone(property.default) : readValue(property, text);
  }
  // The two defaults that depend on who runs the service (and the socket's, on the state folder).
  config.stateDir ??= defaultStateDir(sources.isRoot, sources.home);
  config.socketPath ??= defaultSocketPath(sources.isRoot, config.stateDir as string);
  const problems = [...Value.Errors(schema, config)];
  if (problems.length > 0) {
    const first = problems[0]!;
    const property = schema.properties[first.path.slice(1).split('/')[0] ?? ''] as SettingSchema | undefined;
    const where = property ? `[${property.ini.split('.')[0]}] ${keyName(property)}` : first.path.slice(1) || '(root)';
    throw new ConfigError(`invalid setting ${where}: ${first.message}`);
  }
  return Object.freeze(config);
}

/** The configuration reference (the README's INI block): every setting under its section, with its default. */
export function configReference(schema: Settings = ConfigSchema): string {
  const sections = new Map<string, string[]>();
  const rows = Object.values(schema.properties).map((raw) => {
    const property = raw as SettingSchema;
    const [section] = property.ini.split('.') as [string];
    const value = property.default === undefined || property.default === null ? (property.example ?? '') : iniText(property.default, property.read);
    return { section, left: `${keyName(property)} = ${value}`, comment: property.description };
  });
  const width = Math.max(...rows.map((row) => row.left.length)) + 1;
  for (const row of rows) {
    const lines = sections.get(row.section) ?? [];
    lines.push(`${row.left.padEnd(Math.max(width, 32))} ; ${row.comment}`);
    sections.set(row.section, lines);
  }
  return [...sections].map(([section, lines]) => `[${section}]\n${lines.join('\n')}\n`).join('\n');
}

/** A value as the config file writes it. */
function iniText(value: unknown, read: SettingOptions['read']): string {
  if (read === 'listen') {
    const { host, port } = value as { host: string; port: number };
    return `${host}:${port}`;
  }
  if (read === 'folders') return (value as Array<{ name: string; hostPath: string }>).map((f) => `${f.name}=${f.hostPath}`).join(',');
  return String(value);
}

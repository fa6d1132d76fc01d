// A distribution's /etc/wsl.conf: the settings of WSL's that lxssd honours, read leniently (as WSL does:
// unknown keys are ignored, a bad value falls back to the default).

import { parse } from 'ini';

export interface WslConf {
  hostname?: string;
  generateHosts: boolean;
  generateResolvConf: boolean;
  bootCommand?: string;
  defaultUser?: string;
  automountEnabled: boolean;
  /** with a trailing slash, e.g. `/mnt/` */
  automountRoot: string;
}

function flag(value: unknown, fallback: boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return fallback;
  if (/^(true|1|yes)$/i.test(value.trim())) return true;
  if (/^(false|0|no)$/i.test(value.trim())) return false;
  return fallback;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})$/;

/** A name usable as a hostname: WSL's rule of thumb, letters, digits and dashes. */
export function hostnameFor(name: string): string {
  const cleaned = name.replace(/[^a-zA-Z0-9-]/g, '-').replace(/^-+/, '').slice(0, 63);
  return HOSTNAME.test(cleaned) ? cleaned : 'localhost';
}

export function parseWslConf(content: string | undefined): WslConf {
  const sections = (content ? parse(content) : {}) as Record<string, Record<string, unknown> | undefined>;
  const root = text(sections.automount?.root) ?? '/mnt/';
  const hostname = text(sections.network?.hostname);
  return {
    hostname: hostname && HOSTNAME.test(hostname) ? hostname : undefined,
    generateHosts: flag(sections.network?.generateHosts, true),
    generateResolvConf: flag(sections.network?.generateResolvConf, true),
    bootCommand: text(sections.boot?.command),
    defaultUser: text(sections.user?.default),
    automountEnabled: flag(sections.automount?.enabled, true),
    automountRoot: root.startsWith('/') && !root.split('/').includes('..') ? (root.endsWith('/') ? root : `${root}/`) : '/mnt/',
  };
}

// The saved token (`lxss token save`): one JSON file, 0600, in the user's config folder, holding the server's
// URL and a token for it, for hosts where no local socket of lxssd can be reached.

import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface SavedToken {
  url: string;
  token: string;
}

export function savedTokenPath(env: NodeJS.ProcessEnv): string {
  const configHome = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return join(configHome, 'lxss', 'token.json');
}

export async function readSavedToken(path: string): Promise<SavedToken | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const saved = JSON.parse(text) as Partial<SavedToken>;
    if (typeof saved.url === 'string' && typeof saved.token === 'string') return { url: saved.url, token: saved.token };
  } catch {
    // unreadable: as if there were none; `lxss token save` writes it anew
  }
  return undefined;
}

export async function writeSavedToken(path: string, saved: SavedToken): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  // Created 0600 and renamed into place, so the secret is never readable by others, not even for a moment.
  await writeFile(temporary, `${JSON.stringify(saved)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
}

export async function forgetSavedToken(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch {
    return false;
  }
}

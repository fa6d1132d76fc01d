// Real Unix users for tests, created with useradd when missing (root only), and running commands as them.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';

const run = promisify(execFile);

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export const isRoot = process.getuid?.() === 0;

async function lookup(name: string): Promise<TestUser | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid, , home] = line.split(':');
    if (user === name && uid && gid && home !== undefined) return { name, uid: Number(uid), gid: Number(gid), home };
  }
  return undefined;
}

/** The user `name`, created (with a home folder) when the machine has none. */
export async function ensureUser(name: string): Promise<TestUser> {
  const existing = await lookup(name);
  if (existing) return existing;
  await run('useradd', ['--create-home', '--shell', '/bin/sh', name]).catch(async (error: unknown) => {
    // Another test process may have created it meanwhile.
    if (!(await lookup(name))) throw error;
  });
  const created = await lookup(name);
  if (!created) throw new Error(`useradd ${name} did not create the user`);
  return created;
}

/** The account `name` as /etc/passwd has it, or undefined. */
export function lookupUser(name: string): Promise<TestUser | undefined> {
  return lookup(name);
}

/**
 * An account made for a test with a chosen uid (and a group of its own with a chosen gid), or a system account
 * (uid below UID_MIN); no home, no lastlog entry. Kept between runs like ensureUser's users.
 */
export async function ensureAccount(name: string, options: { uid?: number; gid?: number; system?: boolean }): Promise<TestUser> {
  const existing = await lookup(name);
  if (existing) return existing;
  const args = ['--no-log-init', '--no-create-home', '--shell', '/bin/sh'];
  if (options.system) args.push('--system', '--user-group');
  if (options.uid !== undefined) args.push('--uid', String(options.uid));
  if (options.gid !== undefined) {
    await run('groupadd', ['--gid', String(options.gid), name]).catch(async (error: unknown) => {
      const groups = await readFile('/etc/group', 'utf8');
      if (!groups.split('\n').some((line) => line.startsWith(`${name}:`))) throw error;
    });
    args.push('--gid', name);
  }
  await run('useradd', [...args, name]).catch(async (error: unknown) => {
    if (!(await lookup(name))) throw error;
  });
  const created = await lookup(name);
  if (!created) throw new Error(`useradd ${name} did not create the account`);
  return created;
}

/** Runs argv as `user` (real and effective ids, its own groups), the way a login of that user would. */
export async function runAs(
  user: TestUser,
  argv: string[],
): Promise<{ stdout: string; stderr: string; code: number }> {
  const [program, ...args] = argv;
  try {
    const { stdout, stderr } = await run(
      'setpriv',
      ['--reuid', String(user.uid), '--regid', String(user.gid), '--init-groups', '--', program!, ...args],
      { env: { PATH: '/usr/bin:/bin', HOME: user.home } },
    );
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: number };
    return { stdout: failed.stdout ?? '', stderr: failed.stderr ?? '', code: failed.code ?? -1 };
  }
}

/** curl over the local socket as `user`: the kernel, not a token, tells the service who is calling. */
export async function curlLocalAs(
  user: TestUser,
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  transfer: { upload?: { file: string; contentType: string }; download?: string } = {},
): Promise<{ status: number; json: unknown }> {
  const args = ['-sS', '--unix-socket', socketPath, '-X', method, '-w', '\n%{http_code}'];
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
  if (transfer.upload) {
    args.push('-H', `content-type: ${transfer.upload.contentType}`, '--data-binary', `@${transfer.upload.file}`);
  }
  if (transfer.download) args.push('--output', transfer.download);
  const result = await runAs(user, ['curl', ...args, `http://localhost${path}`]);
  if (result.code !== 0) throw new Error(`curl as ${user.name} failed (${result.code}): ${result.stderr}`);
  const cut = result.stdout.lastIndexOf('\n');
  const text = result.stdout.slice(0, cut);
  return { status: Number(result.stdout.slice(cut + 1)), json: text ? JSON.parse(text) : null };
}

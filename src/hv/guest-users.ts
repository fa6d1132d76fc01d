// A distribution's users as its /etc/passwd lists them: the one reading of that file on the service's side
// (init reads it again in C for the groups of the user it starts, where the service cannot look). Platform-free:
// every backend's DistroFiles.findUser answers by it.

import type { GuestUser } from './types.js';

export function parsePasswd(text: string): GuestUser[] {
  return text
    .split('\n')
    .map((line) => line.split(':'))
    .filter((fields) => fields.length >= 7 && /^\d+$/.test(fields[2]!))
    .map((fields) => ({ name: fields[0]!, uid: Number(fields[2]), home: fields[5] || '/', shell: fields[6] || '/bin/sh' }));
}

/** `user` (a name or a uid) among `users`; a uid nobody has is still a user, with `/` for its home. */
export function findGuestUser(users: readonly GuestUser[], user: string | number): GuestUser | undefined {
  const found = users.find((entry) => (typeof user === 'string' ? entry.name === user : entry.uid === user));
  if (found || typeof user === 'string') return found;
  return { uid: user, name: String(user), home: '/', shell: '/bin/sh' };
}

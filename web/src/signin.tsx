// Sign-in: paste a token (`lxssd token`), or arrive through `lxssd open`'s link, whose one-time code sits in
// the URL fragment and is exchanged here once, then removed from the address bar.

import { useState } from 'preact/hooks';
import { api, ApiError, describeError } from './api.js';
import type { Session } from './types.js';

export interface SignInProps {
  message: string | null;
  onSignedIn: (token: string, session: Session) => void;
}

/** Checks a token by asking who it is; a bad, revoked or expired one is an ApiError with the service's reason. */
export async function sessionFor(token: string): Promise<Session> {
  return api<Session>('/v1/session', { token });
}

/** The `#login=<code>` of the address, removed from it at once (it is good once, and must not linger). */
export function takeLoginCode(): string | null {
  const match = /^#login=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return match[1] ?? null;
}

export async function exchangeLoginCode(code: string): Promise<string> {
  const answer = await api<{ token: string }>('/v1/login-codes/exchange', { method: 'POST', body: { code }, token: '' });
  return answer.token;
}

export function SignIn({ message, onSignedIn }: SignInProps) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = token.trim();
    if (!candidate) return;
    setBusy(true);
    setError(null);
    try {
      onSignedIn(candidate, await sessionFor(candidate));
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.problem.status === 401
          ? 'That token is not valid: it is unknown, revoked or expired. Mint a new one with `lxssd token`.'
          : describeError(failure),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>lxssd</h1>
      <form onSubmit={submit}>
        <label for="token">SID token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)} aria-describedby="token-help" required />
        <p id="token-help" class="hint">Run <code>lxssd open</code> for a one-click sign-in link, or paste the output of <code>lxssd token</code>.</p>
        <button type="submit" disabled={busy}>Sign in</button>
      </form>
      {(error ?? message) && <p class="error" role="alert">{error ?? message}</p>}
    </main>
  );
}

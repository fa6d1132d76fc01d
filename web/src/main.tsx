// The lxssd dashboard: sign in, then distributions, terminals, processes, the VM and the live event bus, all
// from the API of the server that serves this page (same origin; the token in sessionStorage only).

import '@xterm/xterm/css/xterm.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, describeError, storedToken, storeToken, whenUnauthenticated } from './api.js';
import { type BusState, EventBusClient } from './bus.js';
import { useConfirm } from './confirm.js';
import { DistributionsPanel, useDistributions } from './distributions.js';
import { EventsPanel } from './events-panel.js';
import { ProcessesPanel } from './processes.js';
import { exchangeLoginCode, SignIn, sessionFor, takeLoginCode } from './signin.js';
import { TerminalsPanel } from './terminals.js';
import type { Session } from './types.js';
import { VmPanel } from './vm.js';

const TABS = ['Distributions', 'Terminals', 'Processes', 'VM', 'Events'] as const;
type TabName = (typeof TABS)[number];

function Dashboard({ session, onSignOut }: { session: Session; onSignOut: (message: string | null) => void }) {
  const [bus, setBus] = useState<EventBusClient | null>(null);
  const [busState, setBusState] = useState<BusState>('connecting');
  const tokenEnded = () => onSignOut('Your token was revoked or has expired: sign in again.');
  useEffect(() => {
    let client: EventBusClient | undefined;
    let cancelled = false;
    // Follow from the newest event on: the lists read after this are current, and whatever changes them
    // later arrives on the bus.
    api<{ lastId: number }>(`/v1/events?since=${Number.MAX_SAFE_INTEGER}`).then(({ lastId }) => {
      if (cancelled) return;
      client = new EventBusClient(
        lastId,
        (state) => {
          setBusState(state);
          // A stream that drops may mean the token ended: asking says so (a 401 signs out).
          if (state === 'reconnecting') api('/v1/session').catch(() => undefined);
        },
        tokenEnded,
      );
      setBus(client);
    }, () => undefined);
    return () => {
      cancelled = true;
      client?.close();
    };
  }, []);
  return (
    <>
      <header class="top">
        <h1>lxssd</h1>
        <p class="who">
          Signed in as <strong>{session.user ?? session.sid}</strong> <span class="sid">({session.sid})</span>{' '}
          <span class={`bus bus-${busState}`}>events: {busState}</span>
        </p>
        <button type="button" onClick={() => onSignOut(null)}>Sign out</button>
      </header>
      {bus ? <Sections bus={bus} tokenEnded={tokenEnded} /> : <p class="status" role="status">Connecting…</p>}
    </>
  );
}

function Sections({ bus, tokenEnded }: { bus: EventBusClient; tokenEnded: () => void }) {
  const [tab, setTab] = useState<TabName>('Distributions');
  const [notice, setNotice] = useState<string | null>(null);
  const [terminalRequest, setTerminalRequest] = useState<{ distro: string; serial: number } | null>(null);
  const [confirm, confirmDialog] = useConfirm();
  const { distributions, refresh } = useDistributions(bus, setNotice);
  const openTerminal = (distro: string) => {
    setTerminalRequest({ distro, serial: Date.now() });
    setTab('Terminals');
  };
  return (
    <>
      <nav aria-label="Sections" class="sections">
        {TABS.map((name) => (
          <button type="button" key={name} aria-current={tab === name ? 'page' : undefined} onClick={() => setTab(name)}>{name}</button>
        ))}
      </nav>
      <main>
        {notice && <p class="error" role="alert">{notice}</p>}
        <DistributionsPanel bus={bus} distributions={distributions} refresh={refresh} visible={tab === 'Distributions'} confirm={confirm} onOpenTerminal={openTerminal} />
        <TerminalsPanel distributions={distributions} request={terminalRequest} visible={tab === 'Terminals'} onTokenEnded={tokenEnded} />
        <ProcessesPanel bus={bus} visible={tab === 'Processes'} />
        <VmPanel bus={bus} visible={tab === 'VM'} confirm={confirm} />
        <EventsPanel bus={bus} visible={tab === 'Events'} />
      </main>
      {confirmDialog}
    </>
  );
}

function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [checking, setChecking] = useState(true);

  const signOut = (why: string | null) => {
    storeToken(null);
    setSession(null);
    setMessage(why);
  };
  whenUnauthenticated(() => signOut('Your token was revoked or has expired: sign in again.'));

  useEffect(() => {
    (async () => {
      const code = takeLoginCode();
      try {
        if (code) storeToken(await exchangeLoginCode(code));
      } catch (error) {
        setMessage(`That sign-in link is no good (used, expired or unknown): run \`lxssd open\` again. ${describeError(error)}`);
      }
      const token = storedToken();
      if (token) {
        try {
          setSession(await sessionFor(token));
        } catch {
          storeToken(null);
          setMessage('Your token was revoked or has expired: sign in again.');
        }
      }
      setChecking(false);
    })();
  }, []);

  if (checking) return <p class="status" role="status">Signing in…</p>;
  if (!session) {
    return (
      <SignIn message={message} onSignedIn={(token, signedIn) => {
        storeToken(token);
        setMessage(null);
        setSession(signedIn);
      }} />
    );
  }
  return <Dashboard key={session.sid + (session.tokenId ?? '')} session={session} onSignOut={signOut} />;
}

render(<App />, document.getElementById('app')!);

// Terminals in tabs: a shell in a distribution as any of its users, several at once, each kept running while
// another is shown, and re-attached after a page reload (their process ids are kept in sessionStorage).

import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from './api.js';
import { TerminalView, type TerminalSpec } from './terminal.js';
import type { Distribution, Process } from './types.js';

const KEPT_KEY = 'lxssd.terminals';

interface Tab extends TerminalSpec {
  exited?: string;
}

function keep(tabs: Tab[]): void {
  sessionStorage.setItem(KEPT_KEY, JSON.stringify(tabs.filter((tab) => !tab.exited).map(({ processId, distro, user }) => ({ processId, distro, user }))));
}

export interface TerminalsProps {
  distributions: Distribution[];
  request: { distro: string; serial: number } | null;
  visible: boolean;
  onTokenEnded: () => void;
}

export function TerminalsPanel({ distributions, request, visible, onTokenEnded }: TerminalsProps) {
  const [tabs, setTabs] = useState<Tab[]>([]);
  const [active, setActive] = useState<string | null>(null);
  const [distro, setDistro] = useState('');
  const [user, setUser] = useState('');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    // After a reload: the terminals whose shells still run come back.
    const kept = JSON.parse(sessionStorage.getItem(KEPT_KEY) ?? '[]') as TerminalSpec[];
    Promise.all(kept.map((spec) => api<Process>(`/v1/processes/${spec.processId}`).then((p) => (p.state === 'running' ? spec : null), () => null))).then((alive) => {
      const running = alive.filter((spec): spec is TerminalSpec => spec !== null);
      setTabs(running);
      keep(running);
      if (running[0]) setActive(running[0].processId);
    });
  }, []);

  useEffect(() => {
    if (request) {
      setDistro(request.distro);
      void open(request.distro, '');
    }
  }, [request?.serial]);

  const open = async (where: string, who: string) => {
    setError(null);
    try {
      const body: Record<string, unknown> = { tty: { cols: 80, rows: 24 } };
      if (who) body[/^\d+$/.test(who) ? 'uid' : 'user'] = /^\d+$/.test(who) ? Number(who) : who;
      const created = await api<Process>(`/v1/distributions/${encodeURIComponent(where || '@default')}/processes`, { method: 'POST', body });
      const tab: Tab = { processId: created.id, distro: created.distribution, user: created.user ?? who };
      setTabs((all) => {
        const next = [...all, tab];
        keep(next);
        return next;
      });
      setActive(tab.processId);
    } catch (failure) {
      setError(describeError(failure));
    }
  };

  const exited = (processId: string, exitCode: number | null, why?: string) =>
    setTabs((all) => {
      const next = all.map((tab) => (tab.processId === processId ? { ...tab, exited: exitCode === null ? (why ?? 'closed') : `exit code ${exitCode}` } : tab));
      keep(next);
      return next;
    });

  const close = (processId: string) => {
    const tab = tabs.find((t) => t.processId === processId);
    if (tab && !tab.exited) api(`/v1/processes/${processId}`, { method: 'DELETE' }).catch(() => undefined);
    setTabs((all) => {
      const next = all.filter((t) => t.processId !== processId);
      keep(next);
      if (active === processId) setActive(next[0]?.processId ?? null);
      return next;
    });
  };

  return (
    <section aria-labelledby="terminals-heading" hidden={!visible} class="terminals">
      <h2 id="terminals-heading">Terminals</h2>
      <form class="row" onSubmit={(e) => { e.preventDefault(); void open(distro, user.trim()); }}>
        <label for="terminal-distro">Distribution</label>
        <select id="terminal-distro" value={distro} onChange={(e) => setDistro((e.target as HTMLSelectElement).value)}>
          <option value="">(default)</option>
          {distributions.filter((d) => d.state === 'Installed' || d.state === 'Running').map((d) => <option key={d.id} value={d.name}>{d.name}</option>)}
        </select>
        <label for="terminal-user">User</label>
        <input id="terminal-user" value={user} placeholder="default user" onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
        <button type="submit">Open terminal</button>
      </form>
      {error && <p class="error" role="alert">{error}</p>}
      {tabs.length > 0 && (
        <div role="tablist" aria-label="Open terminals" class="tabs">
          {tabs.map((tab) => (
            <span class="tab" key={tab.processId}>
              <button type="button" role="tab" id={`tab-${tab.processId}`} aria-selected={tab.processId === active} aria-controls={`panel-${tab.processId}`}
                onClick={() => setActive(tab.processId)}>
                {tab.user}@{tab.distro}{tab.exited ? ` — ${tab.exited}` : ''}
              </button>
              <button type="button" class="close" aria-label={`Close ${tab.user}@${tab.distro}`} onClick={() => close(tab.processId)}>×</button>
            </span>
          ))}
        </div>
      )}
      {tabs.map((tab) => (
        <div key={tab.processId} role="tabpanel" id={`panel-${tab.processId}`} aria-labelledby={`tab-${tab.processId}`} hidden={tab.processId !== active} class="terminal-panel">
          {tab.exited && <p class="exit" role="status">The shell ended: {tab.exited}.</p>}
          <TerminalView spec={tab} visible={visible && tab.processId === active}
            onExit={(code, why) => exited(tab.processId, code, why)} onTokenEnded={onTokenEnded} />
        </div>
      ))}
    </section>
  );
}

// The VM and its instances (state, uptime, processes, shared folders), and shutdown behind a confirmation.

import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from './api.js';
import type { EventBusClient } from './bus.js';
import type { Mount, Vm } from './types.js';

function uptime(since: string | null | undefined, now: number): string {
  if (!since) return '—';
  const seconds = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${seconds % 60} s` : `${seconds} s`;
}

export function VmPanel({ bus, visible, confirm }: { bus: EventBusClient; visible: boolean; confirm: (message: string, action: string) => Promise<boolean> }) {
  const [vm, setVm] = useState<Vm | null>(null);
  const [mounts, setMounts] = useState<Record<string, Mount[]>>({});
  const [status, setStatus] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const refresh = async () => {
    try {
      const current = await api<Vm>('/v1/vm');
      setVm(current);
      const shares = await Promise.all(
        current.instances.map((i) => api<{ mounts: Mount[] }>(`/v1/distributions/${i.distributionId}/mounts`).then((m) => [i.distributionId, m.mounts] as const, () => [i.distributionId, []] as const)),
      );
      setMounts(Object.fromEntries(shares));
    } catch (error) {
      setStatus(describeError(error));
    }
  };
  useEffect(() => {
    refresh();
    const stop = bus.listen((event) => {
      if (event.type.startsWith('vm-') || event.type.startsWith('instance-') || event.type.startsWith('process-')) refresh();
    });
    return stop;
  }, []);
  useEffect(() => {
    if (!visible) return;
    // The uptime is a clock on the page, not a poll of the service.
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [visible]);
  const shutdown = async () => {
    if (!(await confirm('Shut down? Every running distribution of yours stops, and its processes with it.', 'Shut down'))) return;
    try {
      await api('/v1/shutdown', { method: 'POST' });
      setStatus('Shut down.');
    } catch (error) {
      setStatus(describeError(error));
    }
  };
  return (
    <section aria-labelledby="vm-heading" hidden={!visible}>
      <h2 id="vm-heading">VM</h2>
      {status && <p class="status" role="status">{status}</p>}
      <p>State: <strong>{vm?.state ?? '…'}</strong>{vm?.pid ? `, pid ${vm.pid}, up ${uptime(vm.startedAt, now)}` : ''}</p>
      {vm?.warnings.map((w) => <p class="hint" key={w}>{w}</p>)}
      <div class="table-scroll">
        <table>
          <caption class="visually-hidden">Running distributions</caption>
          <thead><tr><th scope="col">Distribution</th><th scope="col">State</th><th scope="col">Uptime</th><th scope="col">Processes</th><th scope="col">Hostname</th><th scope="col">Shared folders</th></tr></thead>
          <tbody>
            {(vm?.instances.length ?? 0) === 0 && <tr><td colSpan={6}>No distribution is running.</td></tr>}
            {vm?.instances.map((i) => (
              <tr key={i.distributionId}>
                <th scope="row">{i.name}</th>
                <td>{i.state}</td>
                <td>{uptime(i.startedAt, now)}</td>
                <td>{i.processCount}</td>
                <td>{i.hostname}</td>
                <td>{(mounts[i.distributionId] ?? []).map((m) => `${m.hostPath} → ${m.target}${m.readOnly ? ' (read-only)' : ''}`).join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <button type="button" class="danger" onClick={shutdown}>Shut down…</button>
    </section>
  );
}

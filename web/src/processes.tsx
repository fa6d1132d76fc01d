// The caller's processes, kept current by process-started/exited events: what runs, as whom, how it ended, with
// buttons to signal or kill it.

import { useEffect, useState } from 'preact/hooks';
import { allPages, api, describeError } from './api.js';
import type { EventBusClient } from './bus.js';
import type { Process } from './types.js';

async function listProcesses(): Promise<Process[]> {
  return (await allPages<Process>('/v1/processes', 'processes')).reverse();
}

function ending(p: Process): string {
  if (p.state === 'running') return 'running';
  return p.signal !== null && p.signal !== undefined ? `exited, signal ${p.signal} (code ${p.exitCode})` : `exited, code ${p.exitCode}`;
}

export function ProcessesPanel({ bus, visible }: { bus: EventBusClient; visible: boolean }) {
  const [processes, setProcesses] = useState<Process[]>([]);
  const [status, setStatus] = useState<string | null>(null);
  const refresh = () => listProcesses().then(setProcesses, (error: unknown) => setStatus(describeError(error)));
  useEffect(() => {
    refresh();
    return bus.listen((event) => {
      if (event.type === 'process-started' || event.type === 'process-exited' || event.type === 'instance-stopped') refresh();
    });
  }, []);
  const signal = (p: Process, name: string) =>
    api(`/v1/processes/${p.id}/signal`, { method: 'POST', body: { signal: name } }).then(
      () => setStatus(`${name} sent to ${p.argv.join(' ')}`),
      (error: unknown) => setStatus(describeError(error)),
    );
  return (
    <section aria-labelledby="processes-heading" hidden={!visible}>
      <h2 id="processes-heading">Processes</h2>
      {status && <p class="status" role="status">{status}</p>}
      <div class="table-scroll">
        <table>
          <caption class="visually-hidden">Your processes, newest first</caption>
          <thead><tr><th scope="col">Command</th><th scope="col">Distribution</th><th scope="col">User</th><th scope="col">State</th><th scope="col">Started</th><th scope="col">Actions</th></tr></thead>
          <tbody>
            {processes.length === 0 && <tr><td colSpan={6}>No processes.</td></tr>}
            {processes.map((p) => (
              <tr key={p.id}>
                <th scope="row" class="command">{p.argv.join(' ')}{p.argvTruncated ? ' …' : ''}</th>
                <td>{p.distribution}</td>
                <td>{p.user ?? p.uid}</td>
                <td>{ending(p)}</td>
                <td><time dateTime={p.startedAt}>{new Date(p.startedAt).toLocaleTimeString()}</time></td>
                <td class="actions">
                  {p.state === 'running' && (
                    <>
                      <button type="button" onClick={() => signal(p, 'SIGINT')}>Interrupt</button>
                      <button type="button" onClick={() => signal(p, 'SIGTERM')}>Terminate</button>
                      <button type="button" class="danger" onClick={() => signal(p, 'SIGKILL')}>Kill</button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

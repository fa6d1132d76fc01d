// Distributions: a live table (kept current by the event bus, never polled) with WSL's verbs, an import from a
// chosen or dropped file with a real progress bar, and exports downloaded through one-time tickets.

import { useEffect, useRef, useState } from 'preact/hooks';
import { allPages, api, describeError, formatSize, storedToken } from './api.js';
import { problemFromText } from '../../src/client/problem.js';
import type { EventBusClient } from './bus.js';
import type { Distribution } from './types.js';

export interface DistributionsProps {
  bus: EventBusClient;
  distributions: Distribution[];
  refresh: () => void;
  visible: boolean;
  confirm: (message: string, action: string) => Promise<boolean>;
  onOpenTerminal: (distro: string) => void;
}

interface Progress {
  /** 0..1 of the upload, from the browser's own count */
  uploaded?: number;
  bytesWritten?: number;
  failed?: string;
}

export function listDistributions(): Promise<Distribution[]> {
  return allPages<Distribution>('/v1/distributions', 'distributions');
}

/** The distribution list, kept current by the bus: re-read when an event says it changed, never polled. */
export function useDistributions(bus: EventBusClient, onError: (message: string) => void) {
  const [distributions, setDistributions] = useState<Distribution[]>([]);
  const known = useRef(new Set<string>());
  useEffect(() => {
    known.current = new Set(distributions.map((d) => d.id));
  }, [distributions]);
  const refresh = () => listDistributions().then(setDistributions, (error: unknown) => onError(describeError(error)));
  useEffect(() => {
    refresh();
    return bus.listen((event) => {
      if (event.type === 'distribution-import-progress') {
        // The size grows as it unpacks; the row itself appears once, on the first progress.
        setDistributions((all) => all.map((d) => (d.id === event.distributionId ? { ...d, sizeBytes: event.bytesWritten } : d)));
        if (!known.current.has(event.distributionId)) refresh();
      } else if (event.type === 'distribution-export-progress') {
        return;
      } else if (event.type.startsWith('distribution-') || event.type.startsWith('instance-') || event.type === 'default-distribution-changed' || event.type === 'vm-stopped') {
        refresh();
      }
    });
  }, []);
  return { distributions, refresh };
}

export function DistributionsPanel({ bus, confirm, onOpenTerminal, distributions, refresh, visible }: DistributionsProps) {
  const [progress, setProgress] = useState<Record<string, Progress>>({});
  const [status, setStatus] = useState<string | null>(null);

  useEffect(
    () =>
      bus.listen((event) => {
        if (event.type === 'distribution-import-progress') {
          const { name, bytesWritten } = event;
          setProgress((all) => ({ ...all, [name]: { ...all[name], bytesWritten } }));
        } else if (event.type === 'distribution-import-failed') {
          setProgress((all) => ({ ...all, [event.name]: { failed: `${event.detail} (${event.code})` } }));
        } else if (event.type === 'distribution-registered') {
          setProgress((all) => {
            const { [event.name]: _done, ...rest } = all;
            return rest;
          });
        }
      }),
    [],
  );

  const act = async (what: string, call: () => Promise<unknown>) => {
    setStatus(`${what}…`);
    try {
      await call();
      setStatus(`${what}: done`);
    } catch (error) {
      setStatus(`${what} failed: ${describeError(error)}`);
    }
  };
  const path = (d: Distribution) => `/v1/distributions/${encodeURIComponent(d.id)}`;

  return (
    <section aria-labelledby="distributions-heading" hidden={!visible}>
      <h2 id="distributions-heading">Distributions</h2>
      <ImportForm
        onStart={(name) => setProgress((all) => ({ ...all, [name]: { uploaded: 0 } }))}
        onUpload={(name, share) => setProgress((all) => ({ ...all, [name]: { ...all[name], uploaded: share } }))}
        onDone={(name, error) => {
          if (error) setProgress((all) => ({ ...all, [name]: { failed: error } }));
          refresh();
        }}
      />
      <ImportProgress progress={progress} />
      {status && <p class="status" role="status">{status}</p>}
      <div class="table-scroll">
        <table class="distributions">
          <caption class="visually-hidden">Your distributions</caption>
          <thead>
            <tr><th scope="col">Name</th><th scope="col">State</th><th scope="col">Default</th><th scope="col">Size</th><th scope="col">Version</th><th scope="col">Location</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {distributions.length === 0 && <tr><td colSpan={7}>No distributions yet: import one above.</td></tr>}
            {distributions.map((d) => (
              <tr key={d.id} data-name={d.name}>
                <th scope="row">{d.name}</th>
                <td class={`state state-${d.state.toLowerCase()}`}>{d.state === 'Installed' ? 'Stopped' : d.state}</td>
                <td>{d.isDefault ? 'Yes (default)' : 'No'}</td>
                <td>{formatSize(d.sizeBytes)}</td>
                <td>{d.version}</td>
                <td class="path">{d.basePath}</td>
                <td class="actions">
                  {d.state === 'Running' ? (
                    <button type="button" onClick={() => act(`Terminate ${d.name}`, () => api(`${path(d)}/instance`, { method: 'DELETE' }))}>Terminate</button>
                  ) : (
                    <button type="button" disabled={d.state !== 'Installed'} onClick={() => act(`Start ${d.name}`, () => api(`${path(d)}/instance`, { method: 'POST' }))}>Start</button>
                  )}
                  <button type="button" onClick={() => onOpenTerminal(d.name)} disabled={d.state !== 'Installed' && d.state !== 'Running'}>Terminal</button>
                  <details class="more">
                    <summary>More<span class="visually-hidden"> for {d.name}</span></summary>
                    <DistributionMenu distribution={d} act={act} confirm={confirm} />
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function DistributionMenu({ distribution: d, act, confirm }: {
  distribution: Distribution;
  act: (what: string, call: () => Promise<unknown>) => Promise<void>;
  confirm: (message: string, action: string) => Promise<boolean>;
}) {
  const [name, setName] = useState(d.name);
  const [user, setUser] = useState('');
  const [format, setFormat] = useState<'tar' | 'tar.gz' | 'tar.xz'>('tar.gz');
  const path = `/v1/distributions/${encodeURIComponent(d.id)}`;
  const id = (what: string) => `${what}-${d.id}`;
  return (
    <div class="menu">
      {!d.isDefault && (
        <button type="button" onClick={() => act(`Make ${d.name} the default`, () => api('/v1/default-distribution', { method: 'PUT', body: { distro: d.id } }))}>Set as default</button>
      )}
      <form onSubmit={(e) => { e.preventDefault(); act(`Rename ${d.name}`, () => api(path, { method: 'PATCH', body: { name } })); }}>
        <label for={id('rename')}>New name</label>
        <input id={id('rename')} value={name} pattern="[a-zA-Z0-9._\-]{1,256}" required onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        <button type="submit">Rename</button>
      </form>
      <form onSubmit={(e) => { e.preventDefault(); act(`Set ${d.name}'s default user`, () => api(path, { method: 'PATCH', body: /^\d+$/.test(user) ? { defaultUid: Number(user) } : { defaultUser: user } })); }}>
        <label for={id('user')}>Default user</label>
        <input id={id('user')} value={user} placeholder={`uid ${d.defaultUid}`} required onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
        <button type="submit">Set default user</button>
      </form>
      <form onSubmit={(e) => { e.preventDefault(); act(`Export ${d.name}`, () => download(d, format)); }}>
        <label for={id('format')}>Export format</label>
        <select id={id('format')} value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value as typeof format)}>
          <option value="tar">tar</option>
          <option value="tar.gz">tar.gz</option>
          <option value="tar.xz">tar.xz</option>
        </select>
        <button type="submit">Export</button>
      </form>
      <button type="button" class="danger" onClick={async () => {
        if (await confirm(`Unregister ${d.name}? Its files at ${d.basePath} are deleted.`, `Unregister ${d.name}`)) {
          await act(`Unregister ${d.name}`, () => api(path, { method: 'DELETE' }));
        }
      }}>Unregister…</button>
    </div>
  );
}

/** A download needs a URL, and a URL carries no header: a one-time ticket stands in for the token. */
async function download(d: Distribution, format: 'tar' | 'tar.gz' | 'tar.xz'): Promise<void> {
  const { ticket } = await api<{ ticket: string }>('/v1/tickets', { method: 'POST', body: { purpose: 'export', distro: d.id, format } });
  const link = document.createElement('a');
  link.href = `/v1/distributions/${encodeURIComponent(d.id)}/export?format=${format}&ticket=${encodeURIComponent(ticket)}`;
  link.download = `${d.name}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
}

function ImportProgress({ progress }: { progress: Record<string, Progress> }) {
  const entries = Object.entries(progress);
  if (entries.length === 0) return null;
  return (
    <ul class="imports">
      {entries.map(([name, p]) => (
        <li key={name}>
          <label for={`import-progress-${name}`}>Importing {name}</label>{' '}
          {p.failed ? (
            <span class="error" role="alert">failed: {p.failed}</span>
          ) : (
            <>
              <progress id={`import-progress-${name}`} max={1} value={p.uploaded ?? undefined} />{' '}
              <span>{p.uploaded === undefined ? '' : `${Math.round(p.uploaded * 100)}% sent`}{p.bytesWritten ? `, ${formatSize(p.bytesWritten)} unpacked` : ''}</span>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

function ImportForm({ onStart, onUpload, onDone }: {
  onStart: (name: string) => void;
  onUpload: (name: string, share: number) => void;
  onDone: (name: string, error?: string) => void;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState('');
  const [dragging, setDragging] = useState(false);
  const choose = (chosen: File | null | undefined) => {
    if (!chosen) return;
    setFile(chosen);
    if (!name) setName(chosen.name.replace(/\.(tar(\.(gz|xz))?|tgz|txz)$/i, '').replace(/[^a-zA-Z0-9._-]/g, '-').slice(0, 64));
  };
  const submit = (event: Event) => {
    event.preventDefault();
    if (!file || !name) return;
    const importing = name;
    onStart(importing);
    // XMLHttpRequest, not fetch: only it reports an upload's progress.
    const request = new XMLHttpRequest();
    request.open('POST', `/v1/distributions?name=${encodeURIComponent(importing)}`);
    request.setRequestHeader('authorization', `Bearer ${storedToken() ?? ''}`);
    request.setRequestHeader('content-type', 'application/octet-stream');
    request.upload.onprogress = (progress) => {
      if (progress.lengthComputable) onUpload(importing, progress.loaded / progress.total);
    };
    request.onload = () => {
      if (request.status === 201) onDone(importing);
      else {
        const { code, detail } = problemFromText(request.status, request.responseText);
        onDone(importing, `${detail} (${code})`);
      }
    };
    request.onerror = () => onDone(importing, 'the upload failed (lxssd did not answer)');
    request.send(file);
    setFile(null);
    setName('');
    (document.getElementById('import-file') as HTMLInputElement | null)?.form?.reset();
  };
  return (
    <form class={`import${dragging ? ' dragging' : ''}`} onSubmit={submit}
      onDragOver={(e) => { e.preventDefault(); setDragging(true); }}
      onDragLeave={() => setDragging(false)}
      onDrop={(e) => { e.preventDefault(); setDragging(false); choose(e.dataTransfer?.files[0]); }}>
      <fieldset>
        <legend>Import a distribution</legend>
        <label for="import-file">Root filesystem (.tar, .tar.gz, .tar.xz) — or drop it here</label>
        <input id="import-file" type="file" accept=".tar,.gz,.tgz,.xz,.txz,application/x-tar,application/gzip,application/x-xz"
          onChange={(e) => choose((e.target as HTMLInputElement).files?.[0])} />
        <label for="import-name">Name</label>
        <input id="import-name" value={name} required pattern="[a-zA-Z0-9._\-]{1,256}" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={!file || !name}>Import</button>
      </fieldset>
    </form>
  );
}

// One terminal: an xterm.js view of a process's pty over lxss.tty.v1 (raw bytes both ways), sized to its panel
// (the fit addon, and a resize of the pty when the panel changes), with the exit code shown when it ends.

import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { useEffect, useRef } from 'preact/hooks';
import { api, CLOSE_TOKEN_ENDED, openSocket } from './api.js';

export interface TerminalSpec {
  processId: string;
  distro: string;
  user: string;
}

export interface TerminalViewProps {
  spec: TerminalSpec;
  visible: boolean;
  onExit: (exitCode: number | null, why?: string) => void;
  onTokenEnded: () => void;
}

const encoder = new TextEncoder();

export function TerminalView({ spec, visible, onExit, onTokenEnded }: TerminalViewProps) {
  const host = useRef<HTMLDivElement>(null);
  const terminal = useRef<Terminal>();
  const fit = useRef<FitAddon>();

  useEffect(() => {
    const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false });
    const fitter = new FitAddon();
    term.loadAddon(fitter);
    term.open(host.current!);
    terminal.current = term;
    fit.current = fitter;
    let size = { cols: 0, rows: 0 };
    const resize = () => {
      const element = host.current;
      if (!element || element.clientWidth === 0 || element.clientHeight === 0) return;
      fitter.fit();
      if (term.cols === size.cols && term.rows === size.rows) return;
      size = { cols: term.cols, rows: term.rows };
      api(`/v1/processes/${spec.processId}/resize`, { method: 'POST', body: size }).catch(() => undefined);
    };
    const observer = new ResizeObserver(resize);
    observer.observe(host.current!);

    const socket = openSocket(`/v1/processes/${spec.processId}/stdio`, 'lxss.tty.v1');
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      resize();
      term.focus();
    };
    socket.onmessage = (message) => {
      term.write(typeof message.data === 'string' ? message.data : new Uint8Array(message.data as ArrayBuffer));
    };
    socket.onclose = (closed) => {
      // The process is gone (or unreachable): no more resizes for it.
      observer.disconnect();
      if (closed.code === CLOSE_TOKEN_ENDED) return onTokenEnded();
      let exitCode: number | null = null;
      try {
        exitCode = (JSON.parse(closed.reason) as { exitCode?: number }).exitCode ?? null;
      } catch {
        // not an exit: the reason says why, if anything
      }
      onExit(exitCode, exitCode === null ? closed.reason || `the connection closed (${closed.code})` : undefined);
    };
    const typed = term.onData((data) => socket.readyState === WebSocket.OPEN && socket.send(encoder.encode(data)));
    const binary = term.onBinary((data) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(Uint8Array.from(data, (c) => c.charCodeAt(0)));
    });
    return () => {
      observer.disconnect();
      typed.dispose();
      binary.dispose();
      socket.onclose = null;
      socket.close(1000);
      term.dispose();
    };
  }, [spec.processId]);

  useEffect(() => {
    if (visible) {
      fit.current?.fit();
      terminal.current?.focus();
    }
  }, [visible]);

  return <div class="terminal" ref={host} hidden={!visible} aria-label={`terminal: ${spec.user} in ${spec.distro}`} />;
}

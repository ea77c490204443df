// A terminal in the page: a VM's serial console or a shell inside a container or sandbox, over the API's WebSockets.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import { instancePath, socket } from "./api";

export interface OpenTerminal {
  close(): void;
}

/**
 * kind "shell": GET …/exec/attach?cmd=sh&tty=true (first byte of each binary message is the channel; resize as JSON);
 * kind "console": GET …/console (raw bytes both ways).
 */
export function openTerminal(host: HTMLElement, name: string, kind: "shell" | "console", onStatus: (text: string) => void): OpenTerminal {
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, screenReaderMode: true });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  const path = kind === "shell"
    ? `${instancePath(name)}/exec/attach?cmd=sh&tty=true&cols=${term.cols}&rows=${term.rows}`
    : `${instancePath(name)}/console`;
  const ws = socket(path);
  const encoder = new TextEncoder();
  ws.onopen = () => {
    onStatus(kind === "shell" ? "Shell open." : "Console attached (press Enter for a prompt).");
    term.focus();
  };
  ws.onmessage = ev => {
    if (typeof ev.data === "string") {
      try {
        const m = JSON.parse(ev.data) as { type?: string; code?: number };
        if (m.type === "exit") onStatus(`The shell exited with code ${m.code}.`);
      } catch {
        // not a control message
      }
      return;
    }
    const bytes = new Uint8Array(ev.data as ArrayBuffer);
    term.write(kind === "shell" ? bytes.subarray(1) : bytes);
  };
  ws.onclose = ev => onStatus(ev.code === 1000 || ev.code === 1005 ? "Closed." : `Closed (${ev.reason || "connection refused; see the instance's state"}).`);
  const data = term.onData(d => {
    if (ws.readyState !== WebSocket.OPEN) return;
    const b = encoder.encode(d);
    ws.send(b);
  });
  const resize = term.onResize(({ cols, rows }) => {
    if (kind === "shell" && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "resize", cols, rows }));
  });
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(host);
  return {
    close() {
      observer.disconnect();
      data.dispose();
      resize.dispose();
      ws.close();
      term.dispose();
    },
  };
}

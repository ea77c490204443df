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
 *
 * The shell is "open" when it has printed something (its prompt), not when the socket opens: the runtime starts it
 * after that. Keys typed before then are kept and sent once it is there, so nothing typed early is lost or echoed by
 * the terminal driver ahead of the shell's banner. A serial console prints nothing until Enter, so it takes keys
 * as soon as the socket is open. The host element carries the terminal's size (data-cols, data-rows) and whether
 * it is ready (data-ready).
 */
export function openTerminal(host: HTMLElement, name: string, kind: "shell" | "console", onStatus: (text: string) => void): OpenTerminal {
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, screenReaderMode: true });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  const mark = () => {
    host.dataset.cols = String(term.cols);
    host.dataset.rows = String(term.rows);
  };
  mark();
  let sentCols = term.cols;
  let sentRows = term.rows;
  const path = kind === "shell"
    ? `${instancePath(name)}/exec/attach?cmd=sh&tty=true&cols=${sentCols}&rows=${sentRows}`
    : `${instancePath(name)}/console`;
  const ws = socket(path);
  const encoder = new TextEncoder();
  let ready = false;
  let exited: string | null = null;
  const early: Uint8Array[] = [];

  function sendSize(): void {
    if (kind !== "shell" || ws.readyState !== WebSocket.OPEN || (term.cols === sentCols && term.rows === sentRows)) return;
    sentCols = term.cols;
    sentRows = term.rows;
    ws.send(JSON.stringify({ type: "resize", cols: sentCols, rows: sentRows }));
  }

  function becomeReady(text: string): void {
    if (ready) return;
    ready = true;
    host.dataset.ready = "true";
    for (const b of early.splice(0)) ws.send(b);
    onStatus(text);
  }

  onStatus(kind === "shell" ? "Starting the shell…" : "Connecting to the console…");
  host.scrollIntoView({ block: "nearest" });
  term.focus();
  ws.onopen = () => {
    sendSize(); // the window may have changed since the size went into the address
    if (kind === "console") becomeReady("Console attached (press Enter for a prompt).");
  };
  ws.onmessage = ev => {
    if (typeof ev.data === "string") {
      try {
        const m = JSON.parse(ev.data) as { type?: string; code?: number };
        if (m.type === "exit") onStatus(exited = `The shell exited with code ${m.code}.`);
      } catch {
        // not a control message
      }
      return;
    }
    const bytes = new Uint8Array(ev.data as ArrayBuffer);
    term.write(kind === "shell" ? bytes.subarray(1) : bytes);
    if (kind === "shell") becomeReady("Shell open.");
  };
  ws.onclose = ev => {
    early.length = 0;
    // The exit code stays in view after the close that follows it.
    onStatus(exited ? `${exited} Closed.` : ev.code === 1000 || ev.code === 1005 ? "Closed." : `Closed (${ev.reason || "connection refused; see the instance's state"}).`);
  };
  const data = term.onData(d => {
    const b = encoder.encode(d);
    if (ready && ws.readyState === WebSocket.OPEN) ws.send(b);
    else if (!ready && ws.readyState <= WebSocket.OPEN) early.push(b);
  });
  const resize = term.onResize(() => {
    mark();
    sendSize();
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
      delete host.dataset.ready;
    },
  };
}

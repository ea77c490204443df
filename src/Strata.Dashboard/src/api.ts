// The daemon's REST API as the dashboard calls it: same origin, the session's bearer token, problem details as errors.

export interface Caller {
  project: string;
  role: "viewer" | "operator" | "admin";
  hostAdmin: boolean;
}

export interface Problem {
  status: number;
  title?: string;
  detail?: string;
  field?: string;
  kind?: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
}

const tokenKey = "strata.token";
const projectKey = "strata.project";

export const session = {
  token: sessionStorage.getItem(tokenKey) ?? "",
  caller: null as Caller | null,
  /** The project a host administrator acts in (a project token always acts in its own). */
  project: sessionStorage.getItem(projectKey) ?? "default",
};

export function setToken(token: string): void {
  session.token = token;
  sessionStorage.setItem(tokenKey, token);
}

export function setProject(project: string): void {
  session.project = project;
  sessionStorage.setItem(projectKey, project);
}

export function signOut(): void {
  session.token = "";
  session.caller = null;
  sessionStorage.removeItem(tokenKey);
  document.cookie = "strata-token=; path=/v1/; max-age=0; SameSite=Strict";
}

const ranks = { viewer: 1, operator: 2, admin: 3 } as const;

/** Whether the signed-in caller holds at least this role in the project it acts in. */
export function can(role: keyof typeof ranks): boolean {
  const c = session.caller;
  return !!c && (c.hostAdmin || ranks[c.role] >= ranks[role]);
}

export function isHostAdmin(): boolean {
  return !!session.caller?.hostAdmin;
}

function headers(project?: string, json = false): Record<string, string> {
  const h: Record<string, string> = {};
  if (session.token) h["Authorization"] = `Bearer ${session.token}`;
  if (session.caller?.hostAdmin) h["X-Strata-Project"] = project ?? session.project;
  if (json) h["Content-Type"] = "application/json";
  return h;
}

async function fail(r: Response): Promise<never> {
  let problem: Problem = { status: r.status, title: r.statusText };
  try {
    problem = { ...problem, ...(await r.json()) };
  } catch {
    // not a problem document
  }
  throw new ApiError(r.status, problem);
}

export async function call<T>(method: string, path: string, body?: unknown, project?: string): Promise<T> {
  const r = await fetch(path, {
    method,
    headers: headers(project, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) return fail(r);
  if (r.status === 204) return undefined as T;
  const text = await r.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string, project?: string) => call<T>("GET", path, undefined, project);
export const post = <T>(path: string, body?: unknown, project?: string) => call<T>("POST", path, body ?? {}, project);
export const del = <T>(path: string, project?: string) => call<T>("DELETE", path, undefined, project);

export async function postRaw(path: string, body: Blob): Promise<unknown> {
  const r = await fetch(path, { method: "POST", headers: headers(), body });
  if (!r.ok) return fail(r);
  return r.json();
}

/** Reads a streamed response line by line (NDJSON) until it ends or the signal aborts. */
export async function streamLines(path: string, onLine: (line: string) => void, signal: AbortSignal, project?: string): Promise<void> {
  const r = await fetch(path, { headers: headers(project), signal });
  if (!r.ok) return fail(r);
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      onLine(line);
    }
  }
  if (buffer) onLine(buffer);
}

export interface InstanceEvent {
  sequence: number;
  time: string;
  type: string;
  instance: string;
  project: string;
  tier: string;
  state: string;
  exitCode?: number;
  reason?: string;
}

type EventListenerFn = (e: InstanceEvent) => void;
const eventListeners = new Set<EventListenerFn>();
let eventsRunning: AbortController | null = null;

/** The daemon's event stream (server-sent events, read with fetch so the token goes in a header), shared by every page. */
export function onEvent(fn: EventListenerFn): () => void {
  eventListeners.add(fn);
  if (!eventsRunning) startEvents();
  return () => eventListeners.delete(fn);
}

export function stopEvents(): void {
  eventsRunning?.abort();
  eventsRunning = null;
}

function startEvents(): void {
  const abort = new AbortController();
  eventsRunning = abort;
  const run = async () => {
    while (!abort.signal.aborted) {
      try {
        let data = "";
        await streamLines("/v1/events", line => {
          if (line.startsWith("data:")) {
            data += line.slice(5).trim();
          } else if (line === "" && data) {
            const e = JSON.parse(data) as InstanceEvent;
            data = "";
            for (const fn of eventListeners) fn(e);
          }
        }, abort.signal);
      } catch {
        // reconnect below
      }
      if (!abort.signal.aborted) await new Promise(r => setTimeout(r, 1500));
    }
  };
  void run();
}

/**
 * A WebSocket to the API. Browsers cannot put a bearer token on a WebSocket request, so the token travels in a
 * same-site cookie scoped to /v1/ that the daemon accepts for WebSocket upgrades from its own origin only.
 */
export function socket(path: string): WebSocket {
  const secure = location.protocol === "https:";
  if (session.token) {
    document.cookie = `strata-token=${encodeURIComponent(session.token)}; path=/v1/; SameSite=Strict${secure ? "; Secure" : ""}`;
  }
  const sep = path.includes("?") ? "&" : "?";
  const project = session.caller?.hostAdmin ? `${sep}project=${encodeURIComponent(session.project)}` : "";
  const ws = new WebSocket(`${secure ? "wss" : "ws"}://${location.host}${path}${project}`);
  ws.binaryType = "arraybuffer";
  return ws;
}

export function instancePath(name: string): string {
  return `/v1/instances/${encodeURIComponent(name)}`;
}

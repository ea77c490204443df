import { ApiError, can, del, get, instancePath, isHostAdmin, onEvent, post, session, setProject, streamLines } from "../api";
import { bytes, clear, esc, field, h, parseSize, showError, showOk, statusLine, when } from "../dom";
import { Page, pageShell } from "../page";
import { InstanceInfo } from "../types";
import { LiveChart } from "../chart";
import { OpenTerminal, openTerminal } from "../terminal";
import { renderAdvice } from "./create";

interface Snapshot { name: string; kind: string; createdAt: string; sizeBytes?: number }
interface Stats { cpuPercent: number; memoryBytes: number; memoryLimitBytes?: number; pids: number }

export function detailPage(arg: string): Page {
  const [name, query] = arg.split("?");
  const project = new URLSearchParams(query ?? "").get("project");
  if (project && isHostAdmin() && project !== session.project) setProject(project);
  const p = instancePath(name);
  const operator = can("operator");
  const cleanups: (() => void)[] = [];
  let info: InstanceInfo | null = null;

  const status = statusLine();
  const summary = h("dl", { class: "facts" });
  const placement = h("section", { class: "advice", "aria-labelledby": "placement-title" }, h("h2", { id: "placement-title" }, "Placement"));
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Instance actions" });
  // Space for the graph is kept from the start: a graph appearing later must not push the terminal away.
  const chartHost = h("div", { class: "chart", role: "img", "aria-label": "CPU and memory over time" });
  const statsLine = h("p", { class: "muted stats", "aria-live": "off" }, "No samples yet.");
  const logs = h("pre", { class: "logs", tabindex: "0", "aria-label": "Logs", "aria-live": "off" });
  const termHost = h("div", { class: "terminal", id: "terminal" });
  const termStatus = statusLine();
  const snapshots = h("div");
  const events = h("ol", { class: "events", "aria-label": "Events of this instance" });
  const resize = h("div");

  // The terminal comes first after the actions: what is above it has a fixed height, so it stays where the user
  // typed while facts, placement and the graph fill in below.
  const el = pageShell(name,
    status, actions,
    h("h2", null, "Terminal"), h("div", { class: "actions", id: "term-actions" }), termStatus, termHost,
    summary, placement,
    h("h2", null, "CPU and memory"), chartHost, statsLine,
    h("h2", null, "Logs"), logs,
    h("h2", null, "Snapshots"), snapshots,
    resize,
    h("h2", null, "Events"), events);
  el.querySelector("h1")!.appendChild(h("span", { class: "badge", id: "state" }, "…"));

  let term: OpenTerminal | null = null;
  cleanups.push(() => term?.close());
  const termActions = el.querySelector<HTMLElement>("#term-actions")!;

  function show(i: InstanceInfo): void {
    info = i;
    drawSnapshots();
    const badge = el.querySelector<HTMLElement>("#state")!;
    badge.className = `badge s-${i.state}`;
    badge.textContent = i.state;
    badge.setAttribute("data-state", i.state);
    clear(summary);
    const facts: [string, string][] = [
      ["Project", i.project], ["Tier", i.tier], ["State", i.state + (i.reason ? ` (${i.reason})` : "") + (i.exitCode != null ? `, exit ${i.exitCode}` : "")],
      ["Image", i.image ?? "–"], ["Command", [...(i.spec.command ?? []), ...(i.spec.args ?? [])].join(" ") || "–"],
      ["Created", when(i.createdAt)], ["Started", when(i.startedAt)], ["Finished", when(i.finishedAt)],
      ["Restarts", String(i.restartCount)], ...Object.entries(i.details ?? {}),
    ];
    for (const [k, v] of facts) summary.append(h("dt", null, k), h("dd", null, v));
    if (i.placement) {
      renderAdvice(placement, { name: i.name, tier: i.placement.tier, chosenBy: i.placement.chosenBy, reasons: i.placement.reasons, runnersUp: i.placement.runnersUp, fallback: i.placement.fallback, cost: i.placement.cost });
    }
    clear(actions);
    const running = i.state === "running";
    if (operator) {
      actions.append(
        button("Start", !running, () => post<InstanceInfo>(`${p}/start`).then(show)),
        button("Stop", running, () => post<InstanceInfo>(`${p}/stop?timeout=10`).then(show)),
        button("Kill", running, () => post<InstanceInfo>(`${p}/kill?signal=9`).then(show)),
        button("Remove", true, () => del(`${p}?force=true`).then(() => { location.hash = "#/instances"; }), "danger"));
    }
    clear(termActions);
    // A shell needs the attached exec (exec -i/-t), which the container and sandbox tiers have; a VM has its serial console.
    const kind = i.tier === "vm" ? "console" : i.tier === "container" || i.tier === "sandbox" ? "shell" : null;
    if (kind && operator) {
      termActions.appendChild(h("button", {
        type: "button", disabled: !running, "data-terminal": kind, onclick: () => {
          term?.close();
          clear(termHost);
          term = openTerminal(termHost, name, kind, t => { termStatus.textContent = t; });
        },
      }, kind === "console" ? "Open console" : "Open shell"));
      termActions.appendChild(h("button", { type: "button", onclick: () => { term?.close(); term = null; clear(termHost); termStatus.textContent = "Closed."; } }, "Close"));
    } else {
      termActions.appendChild(h("p", { class: "muted" }, kind ? "A terminal needs the operator role."
        : `The ${i.tier} tier has no console or shell.`));
    }
    // Built once: every state event draws the page again, and the resize's own event must not wipe its status line.
    if (i.tier === "vm" && operator && !resize.hasChildNodes()) {
      const mem = h("input", { name: "memory", placeholder: "e.g. 1G" });
      const cpus = h("input", { name: "cpus", type: "number", min: "1" });
      const st = statusLine();
      resize.append(h("h2", null, "Resize"), h("form", {
        class: "inline", "aria-label": "Resize", onsubmit: (ev: Event) => {
          ev.preventDefault();
          const body: Record<string, number> = {};
          const m = parseSize(mem.value);
          if (m) body.memoryBytes = m;
          if (cpus.value) body.cpus = Number(cpus.value);
          post(`${p}/resize`, body).then(() => showOk(st, "Resized."), e => showError(st, e));
        },
      }, field("Memory", mem), field("vCPUs", cpus), h("button", { type: "submit" }, "Resize")), st);
    }
  }

  function button(text: string, enabled: boolean, run: () => Promise<unknown>, cls = ""): HTMLButtonElement {
    const b = h("button", { type: "button", class: cls, disabled: !enabled, "aria-label": `${text} ${name}` }, text);
    b.addEventListener("click", () => {
      b.disabled = true;
      run().then(() => showOk(status, `${text}: done.`), e => { showError(status, e); b.disabled = false; });
    });
    return b;
  }

  // Snapshots: the table is drawn again when the state changes (restore is offered only when it can work: a stopped
  // instance, or a VM, which restores while it runs); the form and its status line stay.
  let snapItems: Snapshot[] | null = null;
  const snapTable = h("div", { class: "table-wrap" });
  const snapStatus = statusLine();
  const snapHint = h("small", { class: "hint", id: "restore-hint" });
  function drawSnapshots(): void {
    if (!snapItems) return;
    const live = info?.tier === "vm" || ["stopped", "exited", "failed", "created"].includes(info?.state ?? "");
    snapHint.textContent = operator && !live && snapItems.length ? "Stop the instance to restore a snapshot (a VM restores while it runs)." : "";
    const t = h("table", { class: "grid snapshots" });
    t.innerHTML = `<thead><tr><th scope="col">Snapshot</th><th scope="col">Kind</th><th scope="col">Taken</th><th scope="col">Size</th>${operator ? `<th scope="col">Actions</th>` : ""}</tr></thead><tbody>${snapItems.map(s =>
      `<tr data-snapshot="${esc(s.name)}"><th scope="row">${esc(s.name)}</th><td>${esc(s.kind)}</td><td>${esc(when(s.createdAt))}</td><td>${esc(bytes(s.sizeBytes))}</td>${operator ? `<td><button type="button" data-restore="${esc(s.name)}" aria-label="Restore ${esc(s.name)}"${live ? "" : ` disabled aria-describedby="restore-hint"`}>Restore</button> <button type="button" class="danger" data-remove="${esc(s.name)}" aria-label="Remove snapshot ${esc(s.name)}">Remove</button></td>` : ""}</tr>`).join("") || `<tr><td colspan="5">none</td></tr>`}</tbody>`;
    snapTable.replaceChildren(t);
  }
  async function loadSnapshots(): Promise<void> {
    try {
      snapItems = (await get<{ items: Snapshot[] }>(`${p}/snapshots`)).items;
      drawSnapshots();
    } catch (e) {
      snapTable.replaceChildren(h("p", { class: "muted" }, (e as Error).message));
    }
  }
  snapTable.addEventListener("click", ev => {
    const b = (ev.target as HTMLElement).closest<HTMLButtonElement>("button");
    const r = b?.dataset.restore;
    const d = b?.dataset.remove;
    if (!b || (!r && !d)) return;
    b.disabled = true;
    if (r) {
      showOk(snapStatus, `Restoring ${r}…`);
      post<InstanceInfo>(`${p}/snapshots/${encodeURIComponent(r)}/restore`).then(i => { show(i); showOk(snapStatus, `Restored ${r}.`); }, e => { showError(snapStatus, e); b.disabled = false; });
    }
    if (d) del(`${p}/snapshots/${encodeURIComponent(d)}`).then(() => { showOk(snapStatus, `Removed ${d}.`); return loadSnapshots(); }, e => { showError(snapStatus, e); b.disabled = false; });
  });
  snapshots.append(snapTable, snapHint);
  if (operator) {
    const snapName = h("input", { name: "snapshot", placeholder: "generated when empty" });
    const take = h("button", { type: "submit" }, "Take snapshot");
    snapshots.appendChild(h("form", {
      class: "inline", "aria-label": "Take a snapshot", onsubmit: (ev: Event) => {
        ev.preventDefault();
        take.disabled = true;
        showOk(snapStatus, "Taking a snapshot…");
        post<Snapshot>(`${p}/snapshots`, snapName.value ? { name: snapName.value } : {})
          .then(s => { showOk(snapStatus, `Took ${s.name}.`); snapName.value = ""; return loadSnapshots(); }, e => showError(snapStatus, e))
          .finally(() => { take.disabled = false; });
      },
    }, field("Snapshot name", snapName), take));
  }
  snapshots.appendChild(snapStatus);

  // One follower at a time: a new one (the instance started again) replaces the last.
  let following: AbortController | null = null;
  cleanups.push(() => following?.abort());
  async function followLogs(): Promise<void> {
    following?.abort();
    const mine = new AbortController();
    following = mine;
    clear(logs);
    try {
      await streamLines(`${p}/logs?tail=500&follow=true`, line => {
        if (!line) return;
        const f = JSON.parse(line) as { log?: { stream: string; text: string; partial: boolean } };
        if (!f.log) return;
        const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
        logs.append(h("span", { class: f.log.stream }, f.log.text + (f.log.partial ? "" : "\n")));
        if (atBottom) logs.scrollTop = logs.scrollHeight;
      }, mine.signal);
    } catch (e) {
      if (!mine.signal.aborted) logs.append(h("span", { class: "stderr" }, `(${(e as Error).message})\n`));
    }
  }

  let chart: LiveChart | null = null;
  cleanups.push(() => chart?.destroy());
  async function sample(): Promise<void> {
    if (!info || info.state !== "running") return;
    try {
      const s = await get<Stats>(`${p}/stats`);
      chart ??= new LiveChart(chartHost);
      chart.push(Date.now() / 1000, s.cpuPercent, s.memoryBytes);
      statsLine.textContent = `CPU ${s.cpuPercent.toFixed(1)} %, memory ${bytes(s.memoryBytes)}${s.memoryLimitBytes ? ` of ${bytes(s.memoryLimitBytes)}` : ""}, ${s.pids} processes`;
    } catch (e) {
      statsLine.textContent = (e as Error).message;
      if (e instanceof ApiError && e.status === 400) clearInterval(timer); // the tier has no stats
    }
  }
  const timer = window.setInterval(() => void sample(), 2000);
  cleanups.push(() => clearInterval(timer));

  cleanups.push(onEvent(e => {
    if (e.instance !== name || (info && e.project !== info.project)) return;
    events.prepend(h("li", null, h("time", { datetime: e.time }, when(e.time)), ` ${e.type} → ${e.state}${e.reason ? ` (${e.reason})` : ""}`));
    if (e.type === "deleted") {
      showOk(status, "This instance was removed.");
      return;
    }
    get<InstanceInfo>(p).then(i => {
      const wasRunning = info?.state === "running";
      show(i);
      if (!wasRunning && i.state === "running") void followLogs();
    }, () => undefined);
  }));

  void (async () => {
    try {
      show(await get<InstanceInfo>(p));
      void sample();
      void followLogs();
      void loadSnapshots();
    } catch (e) {
      showError(status, e);
    }
  })();
  return { el, title: name, dispose: () => cleanups.forEach(c => c()) };
}

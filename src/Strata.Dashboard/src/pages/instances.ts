import { can, del, get, instancePath, isHostAdmin, onEvent, post } from "../api";
import { esc, field, h, select, showError, showOk, statusLine, when } from "../dom";
import { Page, pageShell } from "../page";
import { InstanceInfo, ProjectInfo, states, tiers } from "../types";

/** The instances the caller may see: its project's, or (host administrators) every project's. */
export async function allInstances(everyProject: boolean): Promise<InstanceInfo[]> {
  if (!everyProject) {
    return (await get<{ items: InstanceInfo[] }>("/v1/instances")).items;
  }
  const projects = (await get<{ items: ProjectInfo[] }>("/v1/projects")).items;
  const lists = await Promise.all(projects.map(p => get<{ items: InstanceInfo[] }>("/v1/instances", p.name)));
  return lists.flatMap(l => l.items);
}

declare global {
  interface Window {
    /** Render timings of the instance list, read by the browser tests and shown in the page. */
    strataMetrics?: { listRows: number; listRenderMs: number; listFrameMs: number };
  }
}

const key = (project: string, name: string) => `${project}/${name}`;

export function instancesPage(): Page {
  const everyProject = isHostAdmin();
  const operator = can("operator");
  const rows = new Map<string, InstanceInfo>();
  const selected = new Set<string>();

  const tierFilter = select("tier", [["", "all tiers"], ...tiers.map(t => [t, t] as [string, string]), ["fake", "fake"]], "");
  const stateFilter = select("state", [["", "all states"], ...states.map(s => [s, s] as [string, string])], "");
  const projectFilter = select("project", [["", "all projects"]], "");
  const nameFilter = h("input", { type: "search", name: "name", placeholder: "name contains…" });
  const status = statusLine();
  const timing = h("p", { class: "muted timing", "aria-live": "off" });
  const body = h("tbody");
  const selectAll = h("input", { type: "checkbox", "aria-label": "Select every shown instance" });
  const table = h("table", { class: "grid instances", "aria-describedby": "instances-count" },
    h("thead", null, h("tr", null,
      operator ? h("th", { scope: "col", class: "pick" }, selectAll) : null,
      h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Project"), h("th", { scope: "col" }, "Tier"),
      h("th", { scope: "col", class: "c-state" }, "State"), h("th", { scope: "col" }, "Image"), h("th", { scope: "col", class: "c-created" }, "Created"),
      operator ? h("th", { scope: "col", class: "c-actions" }, "Actions") : null)),
    body);
  const count = h("p", { id: "instances-count", class: "muted" });

  const bulk = operator ? h("div", { class: "bulk", role: "group", "aria-label": "Selected instances" },
    h("button", { type: "button", "data-bulk": "stop", onclick: () => void bulkAct("stop") }, "Stop selected"),
    h("button", { type: "button", class: "danger", "data-bulk": "remove", onclick: () => void bulkAct("remove") }, "Remove selected")) : null;

  const filters = h("form", { class: "filters", role: "search", "aria-label": "Filter instances", onsubmit: (e: Event) => e.preventDefault() },
    field("Tier", tierFilter), field("State", stateFilter), everyProject ? field("Project", projectFilter) : null, field("Name", nameFilter));

  const wrap = h("div", { class: "table-wrap scroll" }, table);
  const el = pageShell("Instances", filters, bulk, status, count, wrap, timing);

  function visible(i: InstanceInfo): boolean {
    return (!tierFilter.value || i.tier === tierFilter.value)
      && (!stateFilter.value || i.state === stateFilter.value)
      && (!projectFilter.value || i.project === projectFilter.value)
      && (!nameFilter.value || i.name.includes(nameFilter.value));
  }

  function rowHtml(i: InstanceInfo, index: number): string {
    const k = esc(key(i.project, i.name));
    const n = esc(i.name);
    const href = `#/instance/${encodeURIComponent(i.name)}${everyProject ? `?project=${encodeURIComponent(i.project)}` : ""}`;
    const running = i.state === "running" || i.state === "starting";
    return `<tr data-key="${k}" data-name="${n}" data-state="${esc(i.state)}" aria-rowindex="${index + 2}">`
      + (operator ? `<td class="pick"><input type="checkbox" data-pick="${k}" aria-label="Select ${n}"${selected.has(key(i.project, i.name)) ? " checked" : ""}></td>` : "")
      + `<th scope="row"><a href="${esc(href)}">${n}</a></th><td>${esc(i.project)}</td><td>${esc(i.tier)}</td>`
      + `<td class="state"><span class="badge s-${esc(i.state)}">${esc(i.state)}</span></td><td>${esc(i.image ?? "–")}</td><td>${esc(when(i.createdAt))}</td>`
      + (operator ? `<td class="actions"><button type="button" data-act="stop" data-key="${k}" aria-label="Stop ${n}"${running ? "" : " disabled"}>Stop</button> `
        + `<button type="button" class="danger" data-act="remove" data-key="${k}" aria-label="Remove ${n}">Remove</button></td>` : "")
      + `</tr>`;
  }

  // Only the rows in view (and a screenful either side) are in the DOM: a list of thousands costs what a screenful
  // costs. The table says how many rows there are (aria-rowcount) and which one each is (aria-rowindex).
  const rowHeight = 37;
  const overscan = 20;
  let shown: InstanceInfo[] = [];
  let drawn = "";
  const topPad = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: "8" }));
  const bottomPad = h("tr", { class: "spacer", "aria-hidden": "true" }, h("td", { colspan: "8" }));

  function render(): void {
    const t0 = performance.now();
    shown = [...rows.values()].filter(visible).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.project < b.project ? -1 : 1));
    count.textContent = `${shown.length} of ${rows.size} instances`;
    table.setAttribute("aria-rowcount", String(shown.length + 1));
    drawn = "";
    draw();
    void table.offsetHeight; // layout included in the measure
    const ms = performance.now() - t0;
    requestAnimationFrame(() => setTimeout(() => {
      const frame = performance.now() - t0;
      window.strataMetrics = { listRows: shown.length, listRenderMs: ms, listFrameMs: frame };
      timing.textContent = `${shown.length} rows rendered in ${ms.toFixed(0)} ms (${frame.toFixed(0)} ms to the painted frame)`;
    }, 0));
  }

  function draw(): void {
    const view = wrap.clientHeight || 600;
    const first = Math.max(0, Math.floor(wrap.scrollTop / rowHeight) - overscan);
    const last = Math.min(shown.length, Math.ceil((wrap.scrollTop + view) / rowHeight) + overscan);
    const key = `${first}:${last}:${shown.length}`;
    if (key === drawn) return;
    drawn = key;
    const html: string[] = [];
    for (let i = first; i < last; i++) html.push(rowHtml(shown[i], i));
    body.innerHTML = html.join("");
    topPad.style.height = `${first * rowHeight}px`;
    bottomPad.style.height = `${(shown.length - last) * rowHeight}px`;
    body.prepend(topPad);
    body.append(bottomPad);
  }

  function updateRow(i: InstanceInfo): void {
    const k = key(i.project, i.name);
    const known = rows.has(k);
    rows.set(k, i);
    const index = shown.findIndex(x => key(x.project, x.name) === k);
    if (!known || (index < 0) === visible(i)) {
      render(); // a new row, or one that enters or leaves the filter
      return;
    }
    if (index < 0) return;
    shown[index] = i;
    const tr = body.querySelector<HTMLTableRowElement>(`tr[data-key="${CSS.escape(k)}"]`);
    if (tr) {
      const tmp = document.createElement("tbody");
      tmp.innerHTML = rowHtml(i, index);
      tr.replaceWith(tmp.firstElementChild!);
    }
  }

  function forget(k: string): void {
    rows.delete(k);
    selected.delete(k);
    render();
  }

  async function act(action: string, k: string): Promise<void> {
    const i = rows.get(k);
    if (!i) return;
    if (action === "stop") {
      const info = await post<InstanceInfo>(`${instancePath(i.name)}/stop?timeout=10`, undefined, i.project);
      updateRow(info);
    } else {
      await del(`${instancePath(i.name)}?force=true`, i.project);
      forget(k);
    }
  }

  async function bulkAct(action: string): Promise<void> {
    const keys = [...selected];
    if (keys.length === 0) {
      showError(status, "Select instances first (the checkbox at the start of each row).");
      return;
    }
    const results = await Promise.allSettled(keys.map(k => act(action, k)));
    const failed = results.filter(r => r.status === "rejected") as PromiseRejectedResult[];
    if (failed.length) showError(status, `${failed.length} of ${keys.length} failed: ${failed[0].reason?.message}`);
    else showOk(status, `${action === "stop" ? "Stopped" : "Removed"} ${keys.length} instances.`);
    if (action === "remove") selected.clear();
  }

  body.addEventListener("click", ev => {
    const b = (ev.target as HTMLElement).closest<HTMLButtonElement>("button[data-act]");
    if (!b) return;
    b.disabled = true;
    const action = b.dataset.act!;
    act(action, b.dataset.key!).then(
      () => showOk(status, `${action === "stop" ? "Stopped" : "Removed"} ${b.dataset.key}.`),
      e => {
        b.disabled = false;
        showError(status, e);
      });
  });
  body.addEventListener("change", ev => {
    const c = ev.target as HTMLInputElement;
    if (!c.dataset.pick) return;
    if (c.checked) selected.add(c.dataset.pick);
    else selected.delete(c.dataset.pick);
  });
  selectAll.addEventListener("change", () => {
    for (const i of shown) {
      if (selectAll.checked) selected.add(key(i.project, i.name));
      else selected.delete(key(i.project, i.name));
    }
    for (const c of body.querySelectorAll<HTMLInputElement>("input[data-pick]")) c.checked = selectAll.checked;
  });
  wrap.addEventListener("scroll", () => requestAnimationFrame(draw), { passive: true });
  for (const f of [tierFilter, stateFilter, projectFilter]) f.addEventListener("change", render);
  nameFilter.addEventListener("input", render);

  const off = onEvent(e => {
    const k = key(e.project, e.instance);
    if (e.type === "deleted") {
      if (rows.has(k)) forget(k);
      return;
    }
    const known = rows.get(k);
    if (known) {
      updateRow({ ...known, state: e.state, exitCode: e.exitCode, reason: e.reason });
    } else {
      get<InstanceInfo>(instancePath(e.instance), e.project).then(updateRow, () => undefined);
    }
  });

  void (async () => {
    try {
      if (everyProject) {
        const projects = (await get<{ items: ProjectInfo[] }>("/v1/projects")).items;
        for (const p of projects) projectFilter.appendChild(h("option", { value: p.name }, p.name));
      }
      const items = await allInstances(everyProject);
      for (const i of items) rows.set(key(i.project, i.name), i);
      render();
    } catch (e) {
      showError(status, e);
    }
  })();

  return { el, title: "Instances", dispose: off };
}

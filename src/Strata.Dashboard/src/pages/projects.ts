import { can, del, get, isHostAdmin, post, session } from "../api";
import { bytes, esc, field, h, select, showError, showOk, statusLine, when } from "../dom";
import { Page, pageShell } from "../page";
import { ProjectInfo } from "../types";

interface TokenInfo { id: string; role: string; description?: string; createdAt?: string; token?: string }

const quotaNames: [string, string][] = [["instances", "Instances"], ["cpus", "CPUs"], ["memoryBytes", "Memory"], ["pids", "Processes"], ["diskBytes", "Disk"]];

export function projectsPage(): Page {
  const status = statusLine();
  const list = h("div", { class: "projects" });
  const el = pageShell("Projects", status);

  async function load(): Promise<void> {
    try {
      const items = (await get<{ items: ProjectInfo[] }>("/v1/projects")).items;
      list.replaceChildren(...items.map(card));
    } catch (e) {
      showError(status, e);
    }
  }

  function card(p: ProjectInfo): HTMLElement {
    const bars = h("div", { class: "quotas" });
    for (const [k, label] of quotaNames) {
      const used = p.usage?.[k] ?? 0;
      const limit = p.quota?.[k];
      const show = (v: number) => (k.endsWith("Bytes") ? bytes(v) : String(v));
      const text = limit == null ? `${show(used)} (no limit)` : `${show(used)} of ${show(limit)}`;
      const id = `q-${p.name}-${k}`;
      bars.appendChild(limit == null
        ? h("div", { class: "quota", "data-quota": k }, `${label}: ${text}`)
        : h("div", { class: "quota" },
          h("label", { for: id }, `${label}: ${text}`),
          h("meter", { id, min: "0", max: String(limit), value: String(used), high: String(limit * 0.8), optimum: "0", "data-quota": k }, text)));
    }
    const sec = h("section", { class: "card", "aria-labelledby": `p-${p.name}` },
      h("h2", { id: `p-${p.name}` }, p.name), p.description ? h("p", null, p.description) : null, bars);
    const mine = isHostAdmin() || session.caller?.project === p.name;
    if (mine && (isHostAdmin() || can("admin"))) sec.appendChild(tokens(p.name));
    if (isHostAdmin() && p.name !== "default") {
      sec.appendChild(h("button", {
        type: "button", class: "danger", "aria-label": `Remove project ${p.name}`,
        onclick: () => del(`/v1/projects/${encodeURIComponent(p.name)}`).then(() => load(), e => showError(status, e)),
      }, "Remove project"));
    }
    return sec;
  }

  function tokens(project: string): HTMLElement {
    const box = h("div", { class: "tokens" }, h("h3", null, "Tokens"));
    const table = h("table", { class: "grid" });
    const shown = h("p", { class: "once", role: "status", "aria-live": "polite" });
    const st = statusLine();
    const base = `/v1/projects/${encodeURIComponent(project)}/tokens`;
    const reload = () => get<{ items: TokenInfo[] }>(base, project).then(r => {
      table.innerHTML = `<thead><tr><th scope="col">Id</th><th scope="col">Role</th><th scope="col">Description</th><th scope="col">Created</th><th scope="col">Actions</th></tr></thead><tbody>${r.items.map(t =>
        `<tr><th scope="row"><code>${esc(t.id)}</code></th><td>${esc(t.role)}</td><td>${esc(t.description ?? "")}</td><td>${esc(when(t.createdAt))}</td><td><button type="button" class="danger" data-revoke="${esc(t.id)}" aria-label="Revoke token ${esc(t.id)}">Revoke</button></td></tr>`).join("")}</tbody>`;
    }, e => showError(st, e));
    table.addEventListener("click", ev => {
      const id = (ev.target as HTMLElement).dataset.revoke;
      if (id) del(`${base}/${encodeURIComponent(id)}`, project).then(() => { showOk(st, `Revoked ${id}.`); void reload(); }, e => showError(st, e));
    });
    const role = select("role", ["viewer", "operator", "admin"], "viewer");
    const description = h("input", { name: "description" });
    const form = h("form", { class: "inline", "aria-label": `New token for ${project}` }, field("Role", role), field("Description", description), h("button", { type: "submit" }, "Create token"));
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      post<TokenInfo>(base, { role: role.value, description: description.value || undefined }, project).then(t => {
        shown.replaceChildren("New token (shown once, copy it now): ", h("code", { class: "secret" }, t.token ?? ""));
        void reload();
      }, e => showError(st, e));
    });
    box.append(form, shown, st, h("div", { class: "table-wrap" }, table));
    void reload();
    return box;
  }

  if (isHostAdmin()) {
    const name = h("input", { name: "name", required: true });
    const description = h("input", { name: "description" });
    const form = h("form", { class: "inline", "aria-label": "Create a project" }, field("Project name", name), field("Description", description), h("button", { type: "submit" }, "Create project"));
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      post("/v1/projects", { name: name.value, description: description.value || undefined }).then(() => { showOk(status, `Created ${name.value}.`); void load(); }, e => showError(status, e));
    });
    el.appendChild(form);
  }
  el.appendChild(list);
  void load();
  return { el, title: "Projects" };
}

import { can, del, get, post } from "../api";
import { esc, field, h, showError, showOk, statusLine } from "../dom";
import { Page, pageShell } from "../page";

interface NetworkInfo { name: string; project: string; subnet: string; gateway: string; bridge: string; internal: boolean; default: boolean; members: { instance: string; address: string }[] }

export function networksPage(): Page {
  const operator = can("operator");
  const status = statusLine();
  const table = h("table", { class: "grid" });
  const el = pageShell("Networks", status);

  async function load(): Promise<void> {
    try {
      const items = (await get<{ items: NetworkInfo[] }>("/v1/networks")).items;
      table.innerHTML = `<thead><tr><th scope="col">Name</th><th scope="col">Subnet</th><th scope="col">Gateway</th><th scope="col">Bridge</th><th scope="col">Members</th>${operator ? `<th scope="col">Actions</th>` : ""}</tr></thead><tbody>${items.map(n =>
        `<tr><th scope="row">${esc(n.name)}${n.default ? " (default)" : ""}${n.internal ? " (internal)" : ""}</th><td>${esc(n.subnet)}</td><td>${esc(n.gateway)}</td><td>${esc(n.bridge)}</td><td>${esc(n.members.map(m => `${m.instance} ${m.address}`).join(", ") || "–")}</td>${operator ? `<td>${n.default ? "" : `<button type="button" class="danger" data-remove="${esc(n.name)}" aria-label="Remove network ${esc(n.name)}">Remove</button>`}</td>` : ""}</tr>`).join("")}</tbody>`;
    } catch (e) {
      showError(status, e);
    }
  }
  table.addEventListener("click", ev => {
    const n = (ev.target as HTMLElement).dataset.remove;
    if (n) del(`/v1/networks/${encodeURIComponent(n)}`).then(() => { showOk(status, `Removed ${n}.`); void load(); }, e => showError(status, e));
  });
  if (operator) {
    const name = h("input", { name: "name", required: true });
    const subnet = h("input", { name: "subnet", placeholder: "chosen when empty" });
    const internal = h("input", { type: "checkbox", name: "internal" });
    const form = h("form", { class: "inline", "aria-label": "Create a network" }, field("Name", name), field("Subnet", subnet), field("Internal (no way out)", internal), h("button", { type: "submit" }, "Create network"));
    form.addEventListener("submit", ev => {
      ev.preventDefault();
      post("/v1/networks", { name: name.value, subnet: subnet.value || undefined, internal: internal.checked })
        .then(() => { showOk(status, `Created ${name.value}.`); void load(); }, e => showError(status, e));
    });
    el.appendChild(form);
  }
  el.appendChild(table);
  void load();
  return { el, title: "Networks" };
}

import { del, get, isHostAdmin, post, postRaw, streamLines } from "../api";
import { bytes, esc, field, h, showError, showOk, statusLine, when } from "../dom";
import { Page, pageShell } from "../page";

interface ImageSummary { name: string; reference: string; id?: string; kind: string; os?: string; architecture?: string; size: number; added?: string }
interface ProgressItem { id: string; kind: string; phase: string; current: number; total: number }
interface Operation { id: string; status: string; progress?: { current: number; total: number; message?: string; items?: ProgressItem[] }; error?: { detail?: string } }

export function imagesPage(): Page {
  const admin = isHostAdmin();
  const status = statusLine();
  const table = h("table", { class: "grid images" });
  const progress = h("progress", { max: "1", value: "0", hidden: true, "aria-label": "Pull progress" });
  const progressText = h("span", { class: "muted", id: "pull-status", "aria-live": "polite" });
  // One line per blob of the pull (config and layers), as the operation reports them.
  const progressItems = h("ul", { class: "pull-items", "aria-label": "Pull progress by layer" });
  const items = new Map<string, ProgressItem>();
  function drawItems(): void {
    progressItems.replaceChildren(...[...items.values()].map(i => h("li", { "data-item": i.kind, "data-phase": i.phase },
      `${i.kind} ${i.id.replace(/^sha256:/, "").slice(0, 12)}: ${i.phase}, ${bytes(i.current)}${i.total > 0 ? ` of ${bytes(i.total)}` : ""}`)));
  }
  const el = pageShell("Images", status);

  async function load(): Promise<void> {
    try {
      const items = (await get<{ items: ImageSummary[] }>("/v1/images")).items;
      table.innerHTML = `<caption>${items.length} images (shared by every project)</caption><thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Platform</th><th scope="col">Size</th><th scope="col">Added</th>${admin ? `<th scope="col">Actions</th>` : ""}</tr></thead><tbody>${items.map(i =>
        `<tr><th scope="row">${esc(i.name)}</th><td>${esc(i.kind)}</td><td>${esc([i.os, i.architecture].filter(Boolean).join("/") || "–")}</td><td>${esc(bytes(i.size))}</td><td>${esc(when(i.added))}</td>${admin && i.kind !== "disk" ? `<td><button type="button" class="danger" data-remove="${esc(i.reference)}" aria-label="Remove image ${esc(i.name)}">Remove</button></td>` : admin ? "<td></td>" : ""}</tr>`).join("")}</tbody>`;
    } catch (e) {
      showError(status, e);
    }
  }
  table.addEventListener("click", ev => {
    const ref = (ev.target as HTMLElement).dataset.remove;
    if (ref) del(`/v1/images/${ref.split("/").map(encodeURIComponent).join("/")}`).then(() => { showOk(status, `Removed ${ref}.`); void load(); }, e => showError(status, e));
  });

  if (admin) {
    const ref = h("input", { name: "reference", placeholder: "docker.io/library/alpine:3.20", required: true });
    const pull = h("form", { class: "inline", "aria-label": "Pull an image" }, field("Pull image", ref), h("button", { type: "submit" }, "Pull"), progress, progressText, progressItems);
    pull.addEventListener("submit", async ev => {
      ev.preventDefault();
      try {
        const op = await post<Operation>("/v1/images/pull", { reference: ref.value.trim() });
        progress.hidden = false;
        items.clear();
        await streamLines(`/v1/operations/${op.id}/events`, line => {
          if (!line) return;
          const e = JSON.parse(line) as { operation?: Operation; item?: ProgressItem };
          if (e.item) items.set(e.item.id, e.item);
          for (const i of e.operation?.progress?.items ?? []) items.set(i.id, i);
          drawItems();
          const o = e.operation;
          if (o?.progress && o.progress.total > 0) {
            progress.max = o.progress.total;
            progress.value = o.progress.current;
          }
          if (o) progressText.textContent = `${o.status}${o.progress?.message ? `: ${o.progress.message}` : ""}${o.error?.detail ? `: ${o.error.detail}` : ""}`;
        }, new AbortController().signal);
        void load();
      } catch (e) {
        showError(status, e);
      }
    });
    const file = h("input", { type: "file", name: "archive", accept: ".tar,.tar.gz,.tgz" });
    const importName = h("input", { name: "name", placeholder: "keep the archive's names" });
    const importForm = h("form", { class: "inline", "aria-label": "Import an image archive" }, field("Import archive", file), field("Name", importName), h("button", { type: "submit" }, "Import"));
    importForm.addEventListener("submit", ev => {
      ev.preventDefault();
      const f = file.files?.[0];
      if (!f) return showError(status, "Choose a tarball (docker save or OCI layout) first.");
      postRaw(`/v1/images/import?kind=archive${importName.value ? `&name=${encodeURIComponent(importName.value)}` : ""}`, f)
        .then(() => { showOk(status, "Imported."); void load(); }, e => showError(status, e));
    });
    const source = h("input", { name: "source", required: true });
    const target = h("input", { name: "target", required: true });
    const tagForm = h("form", { class: "inline", "aria-label": "Tag an image" }, field("Image", source), field("New name", target), h("button", { type: "submit" }, "Tag"));
    tagForm.addEventListener("submit", ev => {
      ev.preventDefault();
      post("/v1/images/tag", { source: source.value, target: target.value }).then(() => { showOk(status, "Tagged."); void load(); }, e => showError(status, e));
    });
    el.append(pull, importForm, tagForm);
  } else {
    el.appendChild(h("p", { class: "muted" }, "The image store is shared by the whole host: only host administrators pull, import, tag or remove."));
  }
  el.appendChild(table);
  void load();
  return { el, title: "Images" };
}

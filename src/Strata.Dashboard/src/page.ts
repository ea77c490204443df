/** One page of the dashboard: its element, its title, and what to stop when the user leaves it. */
export interface Page {
  el: HTMLElement;
  title: string;
  dispose?: () => void;
}

import { h } from "./dom";

export function pageShell(title: string, ...children: (Node | null | false)[]): HTMLElement {
  const el = h("section", { class: "page", "aria-labelledby": "page-title" }, h("h1", { id: "page-title" }, title));
  for (const c of children) if (c) el.appendChild(c);
  return el;
}

/** Where a section's content goes once loaded; shows "Loading…" until then. */
export function slot(label: string): HTMLElement {
  return h("div", { class: "slot", "aria-busy": "true", "aria-label": label }, h("p", { class: "muted" }, "Loading…"));
}

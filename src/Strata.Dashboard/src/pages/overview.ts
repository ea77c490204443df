import { get, isHostAdmin } from "../api";
import { bytes, clear, esc, h } from "../dom";
import { Page, pageShell, slot } from "../page";
import { DaemonInfo } from "../types";
import { allInstances } from "./instances";
import { benchTable } from "./bench";

export function overviewPage(): Page {
  const host = slot("Host");
  const tiersEl = slot("Tiers");
  const counts = slot("Instances by tier and state");
  const bench = slot("Stored bench numbers");
  const el = pageShell("Overview",
    h("h2", null, "Host"), host,
    h("h2", null, "Tiers"), tiersEl,
    h("h2", null, "Instances by tier and state"), counts,
    h("h2", null, "Stored bench numbers"), bench);

  void (async () => {
    try {
      const info = await get<DaemonInfo>("/v1/info");
      fill(host, h("dl", { class: "facts" },
        ...fact("Strata", info.version),
        ...fact("Kernel", `${info.host.os} ${info.host.kernel} (${info.host.arch})`),
        ...fact("CPUs", String(info.host.cpus)),
        ...fact("Memory", bytes(info.host.memoryBytes)),
        ...fact("cgroups", info.host.cgroups),
        ...fact("Store", info.store)));
      const t = h("table", { class: "grid" });
      t.innerHTML = `<caption>Which tiers run here, and why not</caption><thead><tr><th scope="col">Tier</th><th scope="col">Available</th><th scope="col">Engine</th><th scope="col">Why</th></tr></thead><tbody>${info.tiers.map(x =>
        `<tr data-tier="${esc(x.tier)}"><th scope="row">${esc(x.tier)}</th><td class="${x.available ? "yes" : "no"}">${x.available ? "yes" : "no"}</td><td>${esc(x.engine ?? "–")}</td><td>${esc(x.reason)}</td></tr>`).join("")}</tbody>`;
      fill(tiersEl, t);
    } catch (e) {
      fill(host, h("p", { class: "status error" }, (e as Error).message));
      fill(tiersEl, h("p", null, "–"));
    }
    try {
      const items = await allInstances(isHostAdmin());
      const byTier = new Map<string, Map<string, number>>();
      const stateSet = new Set<string>();
      for (const i of items) {
        stateSet.add(i.state);
        const m = byTier.get(i.tier) ?? new Map<string, number>();
        m.set(i.state, (m.get(i.state) ?? 0) + 1);
        byTier.set(i.tier, m);
      }
      const states = [...stateSet].sort();
      if (items.length === 0) {
        fill(counts, h("p", null, "No instances yet."));
      } else {
        const t = h("table", { class: "grid counts" });
        t.innerHTML = `<caption>${items.length} instances</caption><thead><tr><th scope="col">Tier</th>${states.map(s => `<th scope="col">${esc(s)}</th>`).join("")}<th scope="col">total</th></tr></thead><tbody>${[...byTier].map(([tier, m]) =>
          `<tr><th scope="row">${esc(tier)}</th>${states.map(s => `<td>${m.get(s) ?? 0}</td>`).join("")}<td>${[...m.values()].reduce((a, b) => a + b, 0)}</td></tr>`).join("")}</tbody>`;
        fill(counts, t);
      }
    } catch (e) {
      fill(counts, h("p", { class: "status error" }, (e as Error).message));
    }
    fill(bench, await benchTable());
  })();
  return { el, title: "Overview" };
}

function fact(k: string, v: string): HTMLElement[] {
  return [h("dt", null, k), h("dd", null, v)];
}

export function fill(target: HTMLElement, content: Node): void {
  clear(target);
  target.removeAttribute("aria-busy");
  target.appendChild(content);
}

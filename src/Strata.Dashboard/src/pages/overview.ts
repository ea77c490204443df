import { ApiError, get, isHostAdmin } from "../api";
import { bytes, clear, esc, h, when } from "../dom";
import { Page, pageShell, slot } from "../page";
import { ClusterStatus, DaemonInfo } from "../types";
import { allInstances } from "./instances";
import { benchTable } from "./bench";

export function overviewPage(): Page {
  const host = slot("Host");
  const nodes = h("div", { id: "cluster-nodes" });
  const tiersEl = slot("Tiers");
  const counts = slot("Instances by tier and state");
  const bench = slot("Stored bench numbers");
  const hostTitle = h("h2", null, "Host");
  const el = pageShell("Overview",
    nodes,
    hostTitle, host,
    h("h2", null, "Tiers"), tiersEl,
    h("h2", null, "Instances by tier and state"), counts,
    h("h2", null, "Stored bench numbers"), bench);

  void (async () => {
    const cluster = await clusterStatus().catch((e: Error) => {
      nodes.append(h("h2", null, "Cluster nodes"), h("p", { class: "status error" }, e.message));
      return null;
    });
    if (cluster) {
      nodes.append(h("h2", null, "Cluster nodes"), nodesTable(cluster));
      hostTitle.textContent = `This node (${cluster.node})`;
    }
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

/** The cluster's nodes when this daemon is one (host administrators: /v1/cluster is theirs); null on a single host. */
async function clusterStatus(): Promise<ClusterStatus | null> {
  if (!isHostAdmin()) return null;
  try {
    return await get<ClusterStatus>("/v1/cluster");
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null; // not clustered
    throw e;
  }
}

function nodesTable(c: ClusterStatus): HTMLElement {
  const amount = (free?: { cpuMillis: number; memoryBytes: number }, cap?: { cpuMillis: number; memoryBytes: number }) =>
    cap ? `${((free?.cpuMillis ?? 0) / 1000).toFixed(1)} of ${(cap.cpuMillis / 1000).toFixed(1)} CPUs, ${bytes(free?.memoryBytes)} of ${bytes(cap.memoryBytes)}` : "–";
  const t = h("table", { class: "grid nodes" });
  t.innerHTML = `<caption>${c.nodes.length} nodes; scheduler leader ${esc(c.leader ?? "none")}; etcd ${esc(c.etcd.join(", "))}${c.replacementsFrozen ? "; replacements frozen" : ""}</caption>`
    + `<thead><tr><th scope="col">Node</th><th scope="col">Status</th><th scope="col">Address</th><th scope="col">Tiers</th><th scope="col">Free</th><th scope="col">Instances</th><th scope="col">Labels</th></tr></thead><tbody>${c.nodes.map(n =>
      `<tr data-node="${esc(n.name)}" data-status="${esc(n.status)}"><th scope="row">${esc(n.name)}${n.leader ? " (leader)" : ""}${n.name === c.node ? " (this node)" : ""}</th>`
      + `<td>${esc(n.status)}${n.offlineSince ? ` since ${esc(when(n.offlineSince))}` : ""}</td><td>${esc(n.address ?? "–")}</td>`
      + `<td>${esc(n.tiers.map(x => x.engine ? `${x.tier} (${x.engine})` : x.tier).join(", ") || "–")}</td><td>${esc(amount(n.free, n.capacity))}</td>`
      + `<td>${n.instances}</td><td>${esc(Object.entries(n.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(", ") || "–")}</td></tr>`).join("")}</tbody>`;
  return t;
}

function fact(k: string, v: string): HTMLElement[] {
  return [h("dt", null, k), h("dd", null, v)];
}

export function fill(target: HTMLElement, content: Node): void {
  clear(target);
  target.removeAttribute("aria-busy");
  target.appendChild(content);
}

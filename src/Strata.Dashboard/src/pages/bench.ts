import { ApiError, get } from "../api";
import { esc, h } from "../dom";
import { Page, pageShell } from "../page";

interface BenchReport {
  machine?: Record<string, unknown>;
  targets?: Record<string, unknown>[];
  tiers?: Record<string, { startMedianMs?: number; detail?: string }>;
  notes?: string[];
}

async function report(): Promise<BenchReport | string> {
  try {
    return await get<BenchReport>("/v1/bench/results");
  } catch (e) {
    return e instanceof ApiError ? e.message : String(e);
  }
}

/** The stored per-tier numbers the advisor reads (Overview shows this table too). */
export async function benchTable(given?: BenchReport | string): Promise<HTMLElement> {
  const r = given ?? await report();
  if (typeof r === "string") return h("p", { class: "muted" }, r);
  const t = h("table", { class: "grid" });
  t.innerHTML = `<caption>Start to first output, median (what the advisor quotes as cost)</caption><thead><tr><th scope="col">Tier</th><th scope="col">Median</th><th scope="col">Measured</th></tr></thead><tbody>${Object.entries(r.tiers ?? {}).map(([tier, v]) =>
    `<tr><th scope="row">${esc(tier)}</th><td>${v.startMedianMs == null ? "–" : `${esc(v.startMedianMs)} ms`}</td><td>${esc(v.detail ?? "")}</td></tr>`).join("")}</tbody>`;
  return t;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "object") return esc(JSON.stringify(v));
  return esc(v);
}

export function benchPage(): Page {
  const el = pageShell("Bench report");
  void (async () => {
    const r = await report();
    el.appendChild(await benchTable(r));
    if (typeof r === "string") return;
    if (r.machine) {
      const dl = h("dl", { class: "facts" });
      for (const [k, v] of Object.entries(r.machine)) dl.append(h("dt", null, k), h("dd", null, typeof v === "object" ? JSON.stringify(v) : String(v)));
      el.append(h("h2", null, "Machine"), dl);
    }
    if (r.targets?.length) {
      const cols = [...new Set(r.targets.flatMap(t => Object.keys(t)))].filter(c => typeof r.targets![0][c] !== "object" || c === "startLatency");
      const t = h("table", { class: "grid" });
      t.innerHTML = `<caption>Every target measured</caption><thead><tr>${cols.map(c => `<th scope="col">${esc(c)}</th>`).join("")}</tr></thead><tbody>${r.targets.map(x => `<tr>${cols.map(c => `<td>${cell(x[c])}</td>`).join("")}</tr>`).join("")}</tbody>`;
      el.append(h("h2", null, "Targets"), h("div", { class: "table-wrap" }, t));
    }
    if (r.notes?.length) el.append(h("h2", null, "Notes"), h("ul", null, ...r.notes.map(n => h("li", null, n))));
  })();
  return { el, title: "Bench" };
}

import { ApiError, get, post } from "../api";
import { clear, esc, field, h, parseSize, select, showError, statusLine } from "../dom";
import { Page, pageShell } from "../page";
import { AdviseItem, InstanceInfo, tiers } from "../types";

/** Splits a command line on spaces, keeping "quoted words" and 'quoted words' together. */
export function words(text: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

export function createPage(): Page {
  const name = h("input", { name: "name", autocomplete: "off", placeholder: "generated when empty", pattern: "[a-z0-9]([-a-z0-9]*[a-z0-9])?" });
  const image = h("input", { name: "image", value: "busybox", autocomplete: "off" });
  const command = h("input", { name: "command", placeholder: "sh -c \"sleep 3600\"", value: "sleep 3600", autocomplete: "off" });
  const env = h("textarea", { name: "env", rows: 3, placeholder: "KEY=value, one a line" });
  const cpus = h("input", { name: "cpus", type: "number", min: "0", step: "0.1", placeholder: "unlimited" });
  const memory = h("input", { name: "memory", placeholder: "e.g. 256M" });
  const pids = h("input", { name: "pids", type: "number", min: "1", placeholder: "unlimited" });
  const network = select("network", [["", "default for the tier"], ["none", "none"], ["host", "host"]], "");
  const ports = h("input", { name: "ports", placeholder: "8080:80, 127.0.0.1:5353:53/udp" });
  const trust = select("trust", [["trusted", "trusted"], ["untrusted", "untrusted"]], "trusted");
  const isolation = select("isolation", [["", "standard (default)"], ["none", "none"], ["standard", "standard"], ["strong", "strong"]], "");
  const tier = select("tier", [["auto", "auto (the advisor decides)"], ...tiers.map(t => [t, t] as [string, string])], "auto");
  const arch = h("input", { name: "arch", placeholder: "host" });
  const fullOs = h("input", { type: "checkbox", name: "fullOs" });
  const ownKernel = h("input", { type: "checkbox", name: "ownKernel" });
  const snapshots = h("input", { type: "checkbox", name: "statefulSnapshots" });
  const budget = h("input", { name: "startupBudget", placeholder: "e.g. 50ms" });
  const startNow = h("input", { type: "checkbox", name: "start", checked: true });
  const status = statusLine();
  const advice = h("section", { class: "advice", "aria-live": "polite", "aria-labelledby": "advice-title", id: "advice" },
    h("h2", { id: "advice-title" }, "Advisor"), h("p", { class: "muted" }, "…"));

  void get<{ items: { name: string }[] }>("/v1/networks").then(r => {
    for (const n of r.items) if (!["none", "host"].includes(n.name)) network.appendChild(h("option", { value: n.name }, n.name));
  }, () => undefined);

  function spec(): Record<string, unknown> {
    const s: Record<string, unknown> = { tier: tier.value };
    if (name.value.trim()) s.name = name.value.trim();
    if (image.value.trim()) s.image = image.value.trim();
    const cmd = words(command.value);
    if (cmd.length) s.command = cmd;
    const e: Record<string, string> = {};
    for (const line of env.value.split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) e[line.slice(0, i).trim()] = line.slice(i + 1);
    }
    if (Object.keys(e).length) s.env = e;
    const r: Record<string, unknown> = {};
    if (cpus.value) r.cpus = Number(cpus.value);
    if (memory.value.trim()) {
      const b = parseSize(memory.value);
      r.memoryBytes = b ?? memory.value; // an unreadable size goes as is: the daemon names the field
    }
    if (pids.value) r.pids = Number(pids.value);
    if (Object.keys(r).length) s.resources = r;
    if (network.value) s.network = network.value;
    const p = ports.value.split(",").map(x => x.trim()).filter(Boolean).map(port);
    if (p.length) s.ports = p;
    const q: Record<string, unknown> = { trust: trust.value };
    if (isolation.value) q.isolation = isolation.value;
    if (arch.value.trim()) q.arch = arch.value.trim();
    if (fullOs.checked) q.fullOs = true;
    if (ownKernel.checked) q.ownKernel = true;
    if (snapshots.checked) q.statefulSnapshots = true;
    if (budget.value.trim()) q.startupBudget = budget.value.trim();
    s.requirements = q;
    return s;
  }

  let pending = 0;
  let timer = 0;
  async function advise(): Promise<void> {
    const mine = ++pending;
    let item: AdviseItem | undefined;
    let error: string | undefined;
    try {
      item = (await post<{ items: AdviseItem[] }>("/v1/advise", { spec: spec() })).items[0];
    } catch (e) {
      error = (e as Error).message;
    }
    if (mine !== pending) return; // a newer question is on its way
    renderAdvice(advice, item, error);
  }
  const adviseSoon = () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => void advise(), 150);
  };

  const submit = h("button", { type: "submit" }, "Create");
  const form = h("form", { class: "create", "aria-label": "New instance" },
    h("fieldset", null, h("legend", null, "Workload"),
      field("Name", name), field("Image", image, "A name in the image store, dir:/path, or a .wasm file"),
      field("Command", command, "Words; quote to keep spaces"), field("Environment", env)),
    h("fieldset", null, h("legend", null, "Limits"), field("CPUs", cpus), field("Memory", memory), field("Processes (pids)", pids)),
    h("fieldset", null, h("legend", null, "Network"), field("Network", network), field("Ports", ports, "host:container, hostIp:host:container/proto")),
    h("fieldset", null, h("legend", null, "Placement"),
      field("Trust", trust), field("Isolation", isolation), field("Tier", tier),
      field("Architecture", arch), field("Full OS", fullOs), field("Own kernel", ownKernel),
      field("Stateful snapshots", snapshots), field("Startup budget", budget)),
    field("Start it now", startNow),
    h("div", { class: "actions" }, submit),
    status);
  form.addEventListener("input", adviseSoon);
  form.addEventListener("change", adviseSoon);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    submit.disabled = true;
    status.className = "status";
    status.textContent = startNow.checked ? "Creating and starting…" : "Creating…";
    try {
      const info = await post<InstanceInfo>("/v1/instances", { spec: spec(), start: startNow.checked });
      location.hash = `#/instance/${encodeURIComponent(info.name)}`;
    } catch (e) {
      showError(status, e instanceof ApiError && e.problem.field ? `${e.message} (${e.problem.field})` : e);
      if (e instanceof ApiError && e.problem.field) {
        const f = form.querySelector<HTMLElement>(`[name="${CSS.escape(e.problem.field.split(".").pop()!)}"]`);
        f?.setAttribute("aria-invalid", "true");
        f?.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });
  void advise();
  const el = pageShell("Create an instance", h("div", { class: "create-layout" }, form, advice));
  return { el, title: "Create" };
}

function port(text: string): Record<string, unknown> {
  const [main, proto] = text.split("/");
  const parts = main.split(":");
  const containerPort = Number(parts.pop());
  const hostPort = Number(parts.pop() ?? containerPort);
  const out: Record<string, unknown> = { hostPort, containerPort };
  if (parts.length) out.hostIp = parts.join(":");
  if (proto) out.protocol = proto;
  return out;
}

export function renderAdvice(target: HTMLElement, item: AdviseItem | undefined, error?: string): void {
  const title = target.querySelector("h2");
  clear(target);
  if (title) target.appendChild(title);
  if (error || !item) {
    target.appendChild(h("p", { class: "status error" }, error ?? "no advice"));
    return;
  }
  if (item.problem) {
    target.appendChild(h("p", { class: "status error", "data-advice": "problem" }, `No tier fits: ${item.problem.detail ?? ""}`));
    return;
  }
  const first = item.reasons?.[0];
  const verdict = h("p", { class: "verdict", "data-tier": item.tier ?? "" },
    "This runs as ", h("strong", { class: "tier" }, item.tier ?? "?"),
    item.chosenBy === "request" ? " because the request names it" : first ? ` because ${first.rule} ${first.text}` : "",
    item.cost ? ` (start ${item.cost})` : "");
  target.appendChild(verdict);
  if (item.fallback) {
    target.appendChild(h("p", { class: "fallback" }, `Ideal tier ${item.fallback.ideal} is not available here (${item.fallback.why}); ${item.fallback.taken} is used instead.`));
  }
  if ((item.reasons?.length ?? 0) > 1) {
    const ul = h("ul", { class: "reasons" });
    ul.innerHTML = item.reasons!.map(r => `<li><code>${esc(r.rule)}</code> ${esc(r.text)}</li>`).join("");
    target.appendChild(ul);
  }
  if (item.runnersUp?.length) {
    const t = h("table", { class: "grid runners" });
    t.innerHTML = `<caption>Runners-up</caption><thead><tr><th scope="col">Tier</th><th scope="col">Possible</th><th scope="col">Cost here</th><th scope="col">Why not</th></tr></thead><tbody>${item.runnersUp.map(r =>
      `<tr data-tier="${esc(r.tier)}"><th scope="row">${esc(r.tier)}</th><td>${r.viable ? "yes" : "no"}</td><td>${esc(r.cost)}</td><td>${esc(r.whyNot)}</td></tr>`).join("")}</tbody>`;
    target.appendChild(t);
  }
}

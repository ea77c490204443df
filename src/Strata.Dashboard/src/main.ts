// The dashboard's shell: sign-in, navigation (hash routes), and the page in <main>.
import "./app.css";
import { ApiError, Caller, can, get, session, setProject, setToken, signOut, stopEvents } from "./api";
import { clear, field, h, select, showError, statusLine } from "./dom";
import { Page } from "./page";
import { overviewPage } from "./pages/overview";
import { instancesPage } from "./pages/instances";
import { createPage } from "./pages/create";
import { detailPage } from "./pages/detail";
import { imagesPage } from "./pages/images";
import { networksPage } from "./pages/networks";
import { projectsPage } from "./pages/projects";
import { benchPage } from "./pages/bench";

const app = document.getElementById("app")!;
let current: Page | null = null;

interface Route {
  path: string;
  title: string;
  show: () => boolean;
  page: (arg: string) => Page;
}

const routes: Route[] = [
  { path: "overview", title: "Overview", show: () => true, page: overviewPage },
  { path: "instances", title: "Instances", show: () => true, page: instancesPage },
  { path: "create", title: "Create", show: () => can("operator"), page: createPage },
  { path: "images", title: "Images", show: () => true, page: imagesPage },
  { path: "networks", title: "Networks", show: () => true, page: networksPage },
  { path: "projects", title: "Projects", show: () => true, page: projectsPage },
  { path: "bench", title: "Bench", show: () => true, page: benchPage },
];

async function start(): Promise<void> {
  // `strata ui` opens /ui/#token=… : take the token and drop it from the address bar.
  const m = /[#&]token=([^&]+)/.exec(location.hash);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + "#/overview");
  }
  try {
    session.caller = await get<Caller>("/v1/info/caller");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      signIn(session.token ? e.message : "");
      return;
    }
    clear(app);
    app.appendChild(h("p", { class: "status error", role: "alert" }, `The daemon did not answer: ${(e as Error).message}`));
    return;
  }
  if (!session.caller.hostAdmin) setProject(session.caller.project);
  await layout();
  window.addEventListener("hashchange", route);
  route();
}

function signIn(error: string): void {
  clear(app);
  const token = h("input", { type: "password", name: "token", autocomplete: "current-password", required: true });
  const status = statusLine();
  if (error) showError(status, error);
  const form = h("form", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Strata"),
    h("p", null, "Sign in with a project token (strata project token create) or the daemon's admin token."),
    field("API token", token),
    h("button", { type: "submit" }, "Sign in"),
    status);
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    setToken(token.value.trim());
    void start();
  });
  app.appendChild(form);
  token.focus();
}

let mainEl: HTMLElement;
let navEl: HTMLElement;

async function layout(): Promise<void> {
  clear(app);
  const c = session.caller!;
  const who = c.hostAdmin ? "host administrator" : `${c.role} of project ${c.project}`;
  const header = h("header", { class: "top" },
    h("a", { class: "brand", href: "#/overview" }, "Strata"),
    (navEl = h("nav", { "aria-label": "Main" })));
  for (const r of routes.filter(r => r.show())) {
    navEl.appendChild(h("a", { href: `#/${r.path}`, "data-route": r.path }, r.title));
  }
  const tools = h("div", { class: "who" });
  if (c.hostAdmin) {
    let names = ["default"];
    try {
      names = (await get<{ items: { name: string }[] }>("/v1/projects")).items.map(p => p.name);
    } catch {
      // keep default
    }
    if (!names.includes(session.project)) setProject("default");
    const pick = select("project", names, session.project);
    pick.id = "acting-project";
    pick.addEventListener("change", () => {
      setProject(pick.value);
      route();
    });
    tools.appendChild(h("label", { for: "acting-project" }, "Acting in project"));
    tools.appendChild(pick);
  }
  tools.appendChild(h("span", { class: "role", "data-role": c.hostAdmin ? "host-admin" : c.role }, who));
  tools.appendChild(h("button", {
    type: "button", class: "link", onclick: () => {
      stopEvents();
      signOut();
      location.hash = "";
      signIn("");
    },
  }, "Sign out"));
  header.appendChild(tools);
  mainEl = h("main", { id: "main", tabindex: "-1" });
  app.append(header, mainEl);
}

function route(): void {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, ...rest] = hash.split("/");
  const arg = rest.map(decodeURIComponent).join("/");
  let r = routes.find(x => x.path === path && x.show());
  let page: Page;
  current?.dispose?.();
  if (path === "instance" && arg) {
    page = detailPage(arg);
  } else {
    r ??= routes[0];
    page = r.page(arg);
  }
  for (const a of navEl.querySelectorAll("a")) {
    const active = a.getAttribute("data-route") === (path === "instance" ? "instances" : (r?.path ?? ""));
    if (active) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  current = page;
  clear(mainEl);
  mainEl.appendChild(page.el);
  document.title = `${page.title} · Strata`;
  const heading = mainEl.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

void start();


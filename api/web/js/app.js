// Entry point: hash routes, the navigation a role may use, the language switch.
import { api, clearToken, token } from "./api.js";
import { $, esc } from "./dom.js";
import { getLang, roleName, setLang, t } from "./i18n.js";
import { loadRuleNames } from "./names.js";
import { renderAgent } from "./pages/agent.js";
import { renderAppeals } from "./pages/appeals.js";
import { renderInteraction } from "./pages/interaction.js";
import { renderLogin } from "./pages/login.js";
import { renderQueue } from "./pages/queue.js";
import { renderRules } from "./pages/rules.js";
import { renderTeam } from "./pages/team.js";
import { canReview, session } from "./state.js";


function home() {
  if (!session.me) return "#/login";
  return session.me.role === "agent" ? `#/agent/${encodeURIComponent(session.me.agent_id)}` : "#/queue";
}

function parseHash() {
  const [path, q = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: Object.fromEntries(new URLSearchParams(q)) };
}

function renderNav() {
  const me = session.me;
  $("#brand").textContent = t("appName");
  $("#lang-switch").textContent = t("language");
  $("#logout").textContent = t("logout");
  $("#logout").hidden = !me;
  $("#whoami").textContent = me ? `${me.username} · ${roleName(me.role)}` : "";
  const links = [];
  if (me && canReview()) {
    links.push(["#/queue", t("navQueue")], ["#/appeals", t("navAppeals")], ["#/team", t("navTeam")], ["#/rules", t("navRules")]);
  }
  if (me?.role === "agent") links.push([home(), t("navMine")]);
  $("#nav").innerHTML = links.map(([href, label]) => `<a href="${esc(href)}">${esc(label)}</a>`).join("");
}

async function route() {
  const view = $("#view");
  const { parts, params } = parseHash();
  if (!token()) {
    session.me = null;
    renderNav();
    return renderLogin(view, async () => { await loadMe(); location.hash = home(); });
  }
  if (!session.me) await loadMe();
  renderNav();
  await loadRuleNames();
  const [page, id] = parts;
  if (!page || page === "login") { location.hash = home(); return; }
  const pages = {
    queue: renderQueue, i: renderInteraction, agent: renderAgent, team: renderTeam, rules: renderRules, appeals: renderAppeals,
  };
  const render = pages[page];
  if (!render) { location.hash = home(); return; }
  // Each route renders into a fresh container: a slower earlier route then writes into a detached one.
  const container = document.createElement("div");
  view.replaceChildren(container);
  await render(container, id, params);
}

async function loadMe() {
  session.me = await api("/auth/me");
}

$("#lang-switch").addEventListener("click", () => {
  setLang(getLang() === "zh" ? "en" : "zh");
  route();
});
$("#logout").addEventListener("click", () => {
  clearToken();
  session.me = null;
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();

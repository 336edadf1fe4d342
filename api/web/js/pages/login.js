import { login } from "../api.js";
import { $, message } from "../dom.js";
import { t } from "../i18n.js";

export function renderLogin(view, onLoggedIn) {
  view.innerHTML = `
    <form class="card login" id="login-form">
      <h1>${t("appName")}</h1>
      <label>${t("username")}<input name="username" autocomplete="username" required></label>
      <label>${t("password")}<input name="password" type="password" autocomplete="current-password" required></label>
      <button type="submit" class="primary">${t("login")}</button>
      <div id="login-msg"></div>
    </form>`;
  const form = $("#login-form", view);
  form.username.focus();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await login(form.username.value, form.password.value);
      await onLoggedIn();
    } catch {
      message($("#login-msg", view), t("loginFailed"));
    }
  });
}

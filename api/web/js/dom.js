// Small DOM and formatting helpers shared by the pages.
import { t } from "./i18n.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
export const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function fmtScore(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(1); }
export function fmtSat(v) { return v === null || v === undefined ? "–" : `${v > 0 ? "+" : ""}${Number(v).toFixed(2)}`; }
export function fmtPct(v) { return v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`; }

export function fmtClock(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

// One date format in both languages: 2026-11-19 15:04 (the browser's time zone).
const pad = (n) => String(n).padStart(2, "0");
export function fmtDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${fmtDate(iso)} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// A card's empty state: says there is nothing rather than leaving it blank.
export function empty(text, id = "") {
  return `<p class="empty muted"${id ? ` id="${esc(id)}"` : ""}>${esc(text)}</p>`;
}

export function flagBadge(flag) {
  return flag ? `<span class="flag flag-${esc(flag)}" data-flag="${esc(flag)}">${esc(t(flag))}</span>` : "–";
}

export function message(el, text, kind = "error") {
  el.innerHTML = `<div class="msg msg-${kind}" role="${kind === "error" ? "alert" : "status"}">${esc(text)}</div>`;
}

export function toast(text) {
  const el = document.createElement("div");
  el.className = "toast";
  el.setAttribute("role", "status");
  el.textContent = text;
  document.body.append(el);
  setTimeout(() => el.remove(), 3000);
}

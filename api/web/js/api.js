// The JSON API as the logged-in user sees it. The bearer token lives in sessionStorage.
const TOKEN_KEY = "qa.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

export const token = () => sessionStorage.getItem(TOKEN_KEY);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const r = await fetch("/v1/auth/token", { method: "POST", body });
  if (!r.ok) throw new ApiError(r.status, (await r.json().catch(() => ({}))).detail);
  sessionStorage.setItem(TOKEN_KEY, (await r.json()).access_token);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// A file from the API (an export), saved under the name the server gives: fetch sends the login
// token, which a plain link could not.
export async function download(path, params) {
  const r = await fetch(`/v1${path}${query(params)}`, { headers: { Authorization: `Bearer ${token()}` } });
  if (!r.ok) {
    const data = await r.json().catch(() => ({}));
    throw new ApiError(r.status, data.detail || r.statusText);
  }
  const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "")?.[1] || "export";
  const url = URL.createObjectURL(await r.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function api(path, { method = "GET", params, body } = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(`/v1${path}${query(params)}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401) {
    clearToken();
    location.hash = "#/login";
  }
  if (!r.ok) {
    const data = await r.json().catch(() => ({}));
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
    throw new ApiError(r.status, detail || r.statusText);
  }
  return r.status === 204 ? null : r.json();
}

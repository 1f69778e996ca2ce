"use strict";
// Minimal client until the full UI lands: sign in, then show the server status.
let csrf = null;
async function api(path, options = {}) {
  const headers = Object.assign({ "Content-Type": "application/json" }, options.headers || {});
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const resp = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
  return { resp, body };
}
async function showStatus() {
  const { body } = await api("/api/status");
  document.getElementById("status").textContent = JSON.stringify(body, null, 2);
  document.getElementById("overview").hidden = false;
  document.getElementById("login").hidden = true;
}
document.getElementById("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const { resp, body } = await api("/api/login", { method: "POST", body: JSON.stringify({ user: form.get("user"), password: form.get("password") }) });
  if (!resp.ok) { document.getElementById("login-error").textContent = body?.error || "sign-in failed"; return; }
  csrf = body.csrf;
  showStatus();
});
api("/api/session").then(({ resp, body }) => { if (resp.ok) { csrf = body.csrf; showStatus(); } });

// Baton admin: a single-page UI over the admin JSON API (/api/openapi.json).
//
// Model: the saved file (`base`: text + ETag) plus a batch of edits made in the browser.
// Every edit is sent with the whole batch to /api/preview, which answers the text after the
// edits, its diff and the server's own validation; the pages are drawn from that text, so
// they always show what Save would write, and every problem is shown next to the field of
// the key it names before anything is saved.
"use strict";

// ---------------------------------------------------------------- DOM helpers

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** h("div.card#id", {attrs}, children...) */
function h(spec, attrs, ...kids) {
  const m = /^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i.exec(spec);
  const el = document.createElement((m && m[1]) || "div");
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, kids);
  return el;
}
function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}
let idSeq = 0;
const uid = (p = "u") => `${p}-${++idSeq}`;
/** A stable id for the field of a config key (so focus survives a redraw). */
const keyId = (key) => "f-" + key.replace(/[^A-Za-z0-9_-]/g, "_");

// ---------------------------------------------------------------- state

const S = {
  csrf: null,
  base: null, // {etag, text, path}
  edits: [],
  text: "",
  map: new Map(), // key -> value, after the edits
  diags: [],
  valid: true,
  diff: "",
  running: null, // /api/diff/running
  status: null,
  samples: [], // {t, total}
  history: null,
  busy: 0,
};

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, { method = "GET", body, headers = {} } = {}) {
  const hdrs = Object.assign({}, headers);
  if (body !== undefined) hdrs["Content-Type"] = "application/json";
  if (method !== "GET" && S.csrf) hdrs["X-CSRF-Token"] = S.csrf;
  const resp = await fetch(path, {
    method,
    headers: hdrs,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const ct = resp.headers.get("content-type") || "";
  const data = ct.includes("json") ? await resp.json() : null;
  if (resp.status === 401 && path !== "/api/login") {
    showLogin("Your session ended; sign in again.");
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

// ---------------------------------------------------------------- config text model

function parseText(text) {
  const map = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    if (key === "include") continue;
    map.set(key, line.slice(eq + 1).trim());
  }
  return map;
}
const get = (key) => S.map.get(key);
const has = (key) => S.map.has(key);
/** Keys below `prefix` (not the prefix itself). */
const keysUnder = (prefix) => [...S.map.keys()].filter((k) => k.startsWith(prefix + "!"));
/** The distinct next segments below `prefix`. */
function children(prefix) {
  const out = [];
  for (const k of keysUnder(prefix)) {
    const seg = k.slice(prefix.length + 1).split("!")[0];
    if (!out.includes(seg)) out.push(seg);
  }
  return out;
}
/** Numbered children of `prefix`, largest first. */
const numbered = (prefix) =>
  children(prefix)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .sort((a, b) => b - a);
const truthy = (v) => ["1", "true", "yes", "on"].includes(String(v || "").toLowerCase());
const listOf = (v) => String(v || "").split(",").map((s) => s.trim()).filter(Boolean);

function vservers() {
  const list = numbered("vserver").map((id) => vserverInfo(id));
  const def = list.filter((v) => v.nick === "default");
  return list.filter((v) => v.nick !== "default").concat(def);
}
function vserverInfo(id) {
  const p = `vserver!${id}`;
  const domains = [];
  hostList(`${p}!match`, domains);
  for (const legacy of ["domain", "domains"]) {
    for (const n of children(`${p}!${legacy}`)) {
      const v = get(`${p}!${legacy}!${n}`);
      if (v) domains.push(v);
    }
  }
  return {
    id,
    key: p,
    nick: get(`${p}!nick`) || "",
    documentRoot: get(`${p}!document_root`) || "",
    domains,
    maintenanceOf: get(`${p}!maintenance_of`) || null,
    excludeFrom: get(`${p}!match!exclude!from`) || null,
    excludeCookie: get(`${p}!match!exclude!cookie`) || null,
    rules: numbered(`${p}!rule`).map((r) => ruleInfo(`${p}!rule!${r}`, r)),
  };
}
function hostList(m, out) {
  const values = (list) => numbered(`${m}!${list}`).reverse().map((n) => get(`${m}!${list}!${n}`)).filter(Boolean);
  switch ((get(m) || "").trim()) {
    case "wildcard": out.push(...values("domain")); break;
    case "rehost": out.push(...values("regex").map((r) => `~${r}`)); break;
    case "target_ip": out.push(...values("to").map((r) => `ip:${r}`)); break;
    case "v_or": hostList(`${m}!left`, out); hostList(`${m}!right`, out); break;
    default: break;
  }
}
function ruleInfo(key, priority) {
  const enc = children(`${key}!encoder`).filter((e) => truthy(get(`${key}!encoder!${e}`)) || get(`${key}!encoder!${e}`) === "allow");
  return {
    key,
    priority,
    match: matchType(`${key}!match`),
    summary: describeMatch(`${key}!match`),
    handler: get(`${key}!handler`) || "",
    final: !has(`${key}!match!final`) || truthy(get(`${key}!match!final`)),
    disabled: truthy(get(`${key}!disabled`)),
    encoders: enc,
    auth: has(`${key}!auth`) ? get(`${key}!auth`) : null,
    expiration: get(`${key}!expiration`) || null,
    allowFrom: get(`${key}!allow_from`) || null,
  };
}
const matchType = (m) => (get(m) || get(`${m}!type`) || "").trim();
function describeMatch(m) {
  const t = matchType(m);
  const v = (k) => get(`${m}!${k}`) || "";
  switch (t) {
    case "default": return "everything (default)";
    case "directory": return `directory ${v("directory")}`;
    case "extensions": return `extensions ${v("extensions")}`;
    case "request": return `request ~ ${v("request")}`;
    case "header": return `header ${v("header")}${v("match") ? " ~ " + v("match") : ""}`;
    case "exists": return `file exists ${v("exists") || (truthy(v("match_any")) ? "(any)" : "")}`;
    case "method": return `method ${v("method")}`;
    case "fullpath": return `path is ${children(`${m}!fullpath`).map((k) => get(`${m}!fullpath!${k}`)).join(", ")}`;
    case "from": return `client from ${v("from")}`;
    case "url_arg": return `query argument ${v("arg") || "(any)"} ~ ${v("match")}`;
    case "bind": return `listener ${children(`${m}!bind`).map((k) => get(`${m}!bind!${k}`)).join(", ")}`;
    case "tls": return "TLS connection";
    case "and": return `(${describeMatch(`${m}!left`)}) and (${describeMatch(`${m}!right`)})`;
    case "or": return `(${describeMatch(`${m}!left`)}) or (${describeMatch(`${m}!right`)})`;
    case "not": return `not (${describeMatch(`${m}!right`)})`;
    case "": return "(no match type)";
    default: return t;
  }
}
const findVs = (nick) => vservers().find((v) => v.nick === nick);
/** The vserver placed above whose host list takes a pattern first. */
function shadowedBy(vs, all, domain) {
  for (const other of all) {
    if (other === vs) return null;
    if (other.domains.includes(domain)) return other;
  }
  return null;
}

// ---------------------------------------------------------------- edits

let queue = Promise.resolve();
/** Adds edits to the batch; the server previews and validates them. False if refused. */
function edit(...ops) {
  const run = async () => {
    const before = S.edits.slice();
    for (const op of ops) {
      const last = S.edits[S.edits.length - 1];
      if (last && (op.op === "set" || op.op === "unset") && (last.op === "set" || last.op === "unset") && last.key === op.key) {
        S.edits[S.edits.length - 1] = op;
      } else S.edits.push(op);
    }
    try {
      await preview();
      return true;
    } catch (e) {
      S.edits = before;
      const details = (e.body && e.body.diagnostics) || [];
      toast(`Not done: ${e.message}${details.length ? " — " + details.map((d) => d.message).join("; ") : ""}`, "error");
      render();
      return false;
    }
  };
  const p = queue.then(run, run);
  queue = p.catch(() => {});
  return p;
}
async function preview() {
  busy(+1);
  try {
    if (S.edits.length === 0) {
      const cfg = await api("/api/config");
      S.base = { etag: cfg.etag, text: cfg.text, path: cfg.path };
      S.text = cfg.text;
      S.diags = cfg.diagnostics || [];
      S.valid = !S.diags.some((d) => d.severity === "error");
      S.diff = "";
    } else {
      const r = await api("/api/preview", { method: "POST", body: { edits: S.edits } });
      S.text = r.text;
      S.diags = r.diagnostics || [];
      S.valid = r.valid;
      S.diff = r.diff;
    }
    S.map = parseText(S.text);
    render();
  } finally {
    busy(-1);
  }
}
function busy(d) {
  S.busy += d;
  document.body.dataset.busy = S.busy > 0 ? "1" : "0";
  $("#sync").textContent = S.busy > 0 ? "Checking…" : "";
}

/** set, or unset when empty (and present). */
function setOrUnset(key, value) {
  value = String(value ?? "").trim();
  if (value === "") return has(key) || keysUnder(key).length ? edit({ op: "unset", key }) : Promise.resolve(true);
  if (get(key) === value) return Promise.resolve(true);
  return edit({ op: "set", key, value });
}
/** Unset edits for every child subtree of `prefix` except `keep`. */
function unsetChildren(prefix, keep = []) {
  return children(prefix).filter((c) => !keep.includes(c)).map((c) => ({ op: "unset", key: `${prefix}!${c}` }));
}
function describeEdit(e) {
  switch (e.op) {
    case "set": return `set ${e.key} = ${e.value}`;
    case "unset": return `remove ${e.key}`;
    case "vserver_add": return `add virtual server ${e.nick}`;
    case "vserver_clone": return `clone ${e.source} as ${e.nick}`;
    case "vserver_move": return `move ${e.nick} ${e.above ? "above " + e.above : "below " + e.below}`;
    case "vserver_remove": return `remove virtual server ${e.nick}`;
    case "rule_add": return `add a ${e.match} rule to ${e.vserver}`;
    case "rule_move": return `renumber rule ${e.priority} of ${e.vserver} to ${e.to}`;
    case "rule_remove": return `remove rule ${e.priority} of ${e.vserver}`;
    case "maintenance_on": return `put ${e.vserver} into maintenance`;
    case "maintenance_off": return `take ${e.vserver} out of maintenance`;
    case "text": return "replace the whole file";
    default: return e.op;
  }
}

// ---------------------------------------------------------------- sign-in, polling

function showLogin(message) {
  S.csrf = null;
  $("#top").hidden = true;
  $("#view").replaceChildren();
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  $("#login-password").focus();
}
$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const r = await api("/api/login", { method: "POST", body: { user: form.get("user"), password: form.get("password") } });
    S.csrf = r.csrf;
    e.target.reset();
    await start();
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

let pollTimer = null;
async function start() {
  $("#login").hidden = true;
  $("#top").hidden = false;
  if (!location.hash || location.hash === "#") history.replaceState(null, "", "#/overview");
  await preview();
  pollStatus();
  refreshRunning();
  if (!pollTimer) pollTimer = setInterval(pollStatus, 3000);
  $("#main").focus();
}
async function pollStatus() {
  if (!S.csrf) return;
  try {
    const r = await api("/api/status");
    S.status = r;
    if (r.running && r.status) {
      S.samples.push({ t: Date.now(), total: r.status.requests_total, gen: r.status.generation });
      const cutoff = Date.now() - 5 * 60 * 1000;
      while (S.samples.length && S.samples[0].t < cutoff) S.samples.shift();
    }
    if (route().page === "overview") drawStatus();
  } catch (e) {
    /* shown by the next successful poll or the login screen */
  }
}
async function refreshRunning() {
  try {
    S.running = await api("/api/diff/running");
  } catch (e) {
    S.running = { error: e.message };
  }
  if (route().page === "overview") render();
}

// ---------------------------------------------------------------- routing and drawing

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { page: parts[0] || "overview", args: parts.slice(1) };
}
const link = (...parts) => "#/" + parts.map(encodeURIComponent).join("/");
function go(...parts) {
  location.hash = link(...parts);
}
window.addEventListener("hashchange", () => {
  render({ navigated: true });
});

function render(opts = {}) {
  if (!S.csrf || !S.base) return;
  const active = document.activeElement;
  const focusId = active && active.id && !opts.navigated ? active.id : null;
  const { page, args } = route();
  for (const a of $$("nav a")) {
    if (a.dataset.nav === page || (page === "vserver" && a.dataset.nav === "vservers")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const n = S.edits.length;
  const save = $("#save-open");
  save.disabled = n === 0;
  save.textContent = n ? `Save (${n})` : "Save";
  save.setAttribute("aria-label", n ? `Save ${n} unsaved change${n > 1 ? "s" : ""}` : "Save: nothing to save");
  let view;
  switch (page) {
    case "vservers": view = pageVservers(); break;
    case "vserver": view = pageVserver(args[0], args[1] || "basics", args.slice(2)); break;
    case "server": view = pageServer(); break;
    case "history": view = pageHistory(args[0]); break;
    default: view = pageOverview(); break;
  }
  $("#view").replaceChildren(view);
  placeDiagnostics();
  if (page === "overview") drawStatus();
  const wanted = (S.focusAfter || []).map((sel) => $(sel)).find((el) => el && !el.disabled);
  S.focusAfter = null;
  if (wanted) wanted.focus();
  else if (focusId && document.getElementById(focusId)) document.getElementById(focusId).focus();
  else if (opts.navigated) {
    const h1 = $("#view h1");
    if (h1) { h1.setAttribute("tabindex", "-1"); h1.focus(); }
  }
}

/** Puts every diagnostic next to the field of its key (or its closest parent). */
function placeDiagnostics() {
  const unplaced = [];
  for (const d of S.diags) {
    if (!d.key) { unplaced.push(d); continue; }
    let key = d.key;
    let target = null;
    while (key) {
      target = $(`[data-key="${CSS.escape(key)}"]`);
      if (target) break;
      key = key.includes("!") ? key.slice(0, key.lastIndexOf("!")) : "";
    }
    if (!target) { unplaced.push(d); continue; }
    const slot = $(".field-error", target) || target.appendChild(h("p.field-error"));
    slot.append(h("span", { class: d.severity }, `${d.severity === "warning" ? "Warning" : "Error"}: ${d.message}`), " ");
    const input = $("input, select, textarea", target);
    if (input && d.severity === "error") {
      input.setAttribute("aria-invalid", "true");
      if (!slot.id) slot.id = uid("err");
      input.setAttribute("aria-describedby", slot.id);
    }
  }
  const box = $("#problems");
  const errors = S.diags.filter((d) => d.severity === "error");
  box.hidden = errors.length === 0 && unplaced.length === 0;
  box.replaceChildren();
  if (!box.hidden) {
    box.append(h("strong", errors.length ? `${errors.length} problem${errors.length > 1 ? "s" : ""} to fix before saving: ` : "Warnings: "));
    const ul = h("ul");
    for (const d of errors.length ? errors : unplaced) {
      const where = whereIs(d.key);
      ul.append(h("li", where ? h("a", { href: where }, d.key || "file") : d.key ? h("code", d.key) : "", d.key ? ": " : "", d.message));
    }
    box.append(ul);
  }
}
/** The page where the field of a config key is. */
function whereIs(key) {
  if (!key) return null;
  let m = /^vserver!(\d+)!rule!(\d+)/.exec(key);
  if (m) {
    const nick = get(`vserver!${m[1]}!nick`);
    return nick ? link("vserver", nick, "behavior", m[2]) : null;
  }
  m = /^vserver!(\d+)(?:!(.*))?$/.exec(key);
  if (m) {
    const nick = get(`vserver!${m[1]}!nick`);
    if (!nick) return link("vservers");
    const rest = m[2] || "";
    const tab = rest.startsWith("match") || rest.startsWith("domain") ? "hosts" : rest.startsWith("error_handler") ? "errors" : rest.startsWith("logger") ? "logging" : "basics";
    return link("vserver", nick, tab);
  }
  if (key.startsWith("server!")) return link("server");
  return null;
}

function toast(message, kind = "info") {
  const t = $("#toast");
  t.textContent = message;
  t.className = kind;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, kind === "error" ? 12000 : 6000);
}

// ---------------------------------------------------------------- form fields

function fieldWrap(key, label, control, help, id) {
  return h("div.field", { dataset: { key } }, h("label", { for: id }, label), control, help ? h("p.help", help) : null, h("p.field-error"));
}
/** A text field bound to a config key: set when given, unset when emptied. */
function textField(key, label, { help, placeholder, type = "text", list } = {}) {
  const id = keyId(key);
  const input = h("input", {
    id, type, value: get(key) ?? "", placeholder, list, autocomplete: "off",
    onchange: (e) => setOrUnset(key, e.target.value),
  });
  return fieldWrap(key, label, input, help, id);
}
/** A select bound to a config key; the first option "" means "not set" (the default). */
function selectField(key, label, options, { help, unsetLabel = "Default", onchange } = {}) {
  const id = keyId(key);
  const cur = get(key) ?? "";
  const opts = options.map((o) => (Array.isArray(o) ? o : [o, o]));
  if (cur && !opts.some(([v]) => v === cur)) opts.push([cur, `${cur} (as in the file)`]);
  const sel = h("select", { id, onchange: onchange || ((e) => setOrUnset(key, e.target.value)) },
    unsetLabel === null ? null : h("option", { value: "" }, unsetLabel),
    opts.map(([v, l, dis]) => h("option", { value: v, disabled: dis }, l)));
  sel.value = cur;
  return fieldWrap(key, label, sel, help, id);
}
/** Yes / no / default for a boolean key. */
function boolField(key, label, def, help) {
  const cur = get(key);
  const norm = cur === undefined ? "" : truthy(cur) ? "1" : "0";
  const id = keyId(key);
  const sel = h("select", { id, onchange: (e) => setOrUnset(key, e.target.value) },
    h("option", { value: "" }, `Default (${def ? "yes" : "no"})`), h("option", { value: "1" }, "Yes"), h("option", { value: "0" }, "No"));
  sel.value = norm;
  return fieldWrap(key, label, sel, help, id);
}
/** An editable numbered list (`prefix!N = value`). */
function listField(prefix, label, { help, placeholder, addLabel = "Add" } = {}) {
  const nums = numbered(prefix).reverse();
  const ul = h("ul.plain-list");
  for (const n of nums) {
    const key = `${prefix}!${n}`;
    const id = keyId(key);
    ul.append(h("li.list-row", { dataset: { key } },
      h("label.visually-hidden", { for: id }, `${label} ${n}`),
      h("input", { id, value: get(key) ?? "", placeholder, onchange: (e) => setOrUnset(key, e.target.value) }),
      h("button", { type: "button", class: "small", "aria-label": `Remove ${get(key) || label + " " + n}`, onclick: () => edit({ op: "unset", key }) }, "Remove"),
      h("p.field-error")));
  }
  const addId = keyId(prefix) + "-new";
  const add = h("input", { id: addId, placeholder, "aria-label": `New ${label}` });
  const doAdd = () => {
    const v = add.value.trim();
    if (!v) return;
    const next = (nums.length ? Math.max(...nums) : 0) + 1;
    edit({ op: "set", key: `${prefix}!${next}`, value: v });
  };
  add.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); doAdd(); } });
  return h("fieldset.field", { dataset: { key: prefix } }, h("legend", label), help ? h("p.help", help) : null, ul,
    h("div.list-add", add, h("button", { type: "button", class: "small", onclick: doAdd }, addLabel)), h("p.field-error"));
}

// ---------------------------------------------------------------- dialogs

function openDialog(title, body, actions, { wide = false } = {}) {
  const d = $("#dialog");
  d.className = wide ? "wide" : "";
  d.replaceChildren(h("h2#dialog-title", title), h("div.dialog-body", body), h("div.dialog-actions", actions));
  if (!d.open) d.showModal();
  const first = $("input, select, textarea, button.primary", d);
  if (first) first.focus();
  return d;
}
function closeDialog() {
  const d = $("#dialog");
  if (d.open) d.close();
}
function confirmDialog(title, text, yes, danger = false) {
  return new Promise((resolve) => {
    const d = openDialog(title, h("p", text), [
      h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => { closeDialog(); resolve(true); } }, yes),
      h("button", { type: "button", onclick: () => { closeDialog(); resolve(false); } }, "Cancel"),
    ]);
    d.addEventListener("close", () => resolve(false), { once: true });
  });
}

// ---------------------------------------------------------------- Overview

function pageOverview() {
  const all = vservers();
  const inMaint = all.filter((v) => v.maintenanceOf);
  const pending = S.edits.length;
  return h("section.page",
    h("h1", "Overview"),
    h("div.grid",
      h("section.card#status-card", { "aria-labelledby": "status-h" }, h("h2#status-h", "Server"), h("div#status-body", "Asking the server…")),
      h("section.card", { "aria-labelledby": "rps-h" }, h("h2#rps-h", "Requests per second, last 5 minutes"), h("div#chart", { role: "img", "aria-label": "Requests per second chart" }), h("p#rps-now.help")),
      h("section.card", { "aria-labelledby": "pending-h" }, h("h2#pending-h", "Changes"),
        pending
          ? [h("p", `${pending} unsaved change${pending > 1 ? "s" : ""} in this browser:`), h("ol.edits", S.edits.map((e) => h("li", describeEdit(e)))),
            h("div.row", h("button", { type: "button", class: "primary", onclick: openSave }, "Review and save…"),
              h("button", { type: "button", onclick: discardAll }, "Discard all"))]
          : h("p", "No unsaved changes."),
        runningBlock()),
      h("section.card", { "aria-labelledby": "maint-h" }, h("h2#maint-h", "Maintenance"),
        inMaint.length
          ? h("ul.plain-list", inMaint.map((c) => h("li.maint-row", h("span", h("a", { href: link("vserver", c.maintenanceOf, "basics") }, c.maintenanceOf), " is in maintenance (served by ", h("a", { href: link("vserver", c.nick, "behavior") }, c.nick), ")"),
            maintSwitch(findVs(c.maintenanceOf) || { nick: c.maintenanceOf }))))
          : h("p", "No site is in maintenance."),
        h("p.help", "Switch a site on its virtual server's row or page."))));
}
function runningBlock() {
  const r = S.running;
  if (!r) return h("p.help", "Comparing the saved file with the running server…");
  if (r.error) return h("p.help", `Running configuration: ${r.error}`);
  if (!r.pending) return h("p.help#running-state", `The running server (generation ${r.generation}) uses the saved file.`);
  return h("div#running-state",
    h("p", h("strong", "Saved but not applied: "), `the running server (generation ${r.generation}) still uses an older configuration.`),
    h("details", h("summary", "Show the difference"), diffView(r.diff)),
    h("div.row",
      h("button", { type: "button", class: "primary", onclick: () => applySaved("graceful") }, "Apply: graceful restart"),
      h("button", { type: "button", onclick: () => applySaved("hard") }, "Apply: hard restart")));
}
async function applySaved(mode) {
  try {
    const r = await api("/api/apply", { method: "POST", body: { mode } });
    toast(r.ok ? `Applied: generation ${r.generation} is serving.` : `Not applied: ${r.message}`, r.ok ? "info" : "error");
  } catch (e) {
    toast(e.message, "error");
  }
  refreshRunning();
  pollStatus();
}
async function discardAll() {
  if (!(await confirmDialog("Discard unsaved changes", `Discard ${S.edits.length} unsaved change(s)? The file stays as it is.`, "Discard", true))) return;
  S.edits = [];
  await edit();
}
function drawStatus() {
  const body = $("#status-body");
  if (!body) return;
  const r = S.status;
  if (!r) return;
  if (!r.running) {
    body.replaceChildren(h("p.bad", "The server is not running: ", r.message || ""), h("p.help", "Saved changes apply when it starts."));
    return;
  }
  const s = r.status;
  const old = Object.entries(s.connections_by_generation || {}).filter(([g]) => Number(g) !== s.generation);
  const oldGens = (s.generations || []).filter((g) => !g.live);
  body.replaceChildren(...[
    h("dl.facts",
      h("dt", "Generation"), h("dd#st-generation", String(s.generation)),
      h("dt", "Uptime"), h("dd", duration(s.uptime_seconds)),
      h("dt", "Listeners"), h("dd", s.listeners.map((l) => h("div", `${l.address} (bind ${l.bind})`))),
      h("dt", "Open connections"), h("dd#st-connections", String(s.connections_open)),
      h("dt", "Requests"), h("dd#st-requests", String(s.requests_total)),
      h("dt", "Version"), h("dd", `${s.version} (pid ${s.pid})`)),
    h("h3", "Connections by generation"),
    Object.keys(s.connections_by_generation || {}).length
      ? h("ul.plain-list#st-generations", Object.entries(s.connections_by_generation).map(([g, n]) =>
        h("li", { class: Number(g) === s.generation ? "" : "old" }, `generation ${g}${Number(g) === s.generation ? " (current)" : " (old, finishing)"}: ${n} connection${n === 1 ? "" : "s"}`)))
      : h("p.help", "No open connections."),
    old.length || oldGens.length
      ? h("p.warn#st-old", `Still on older generations: ${old.map(([g, n]) => `${n} connection(s) on ${g}`).join(", ") || "none"}${oldGens.length ? "; requests in flight: " + oldGens.map((g) => `${g.requests_in_flight} on ${g.id}`).join(", ") : ""}. They finish on the configuration they started with.`)
      : null].filter(Boolean));
  drawChart();
}
function duration(s) {
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${hh} h` : hh ? `${hh} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
}
function drawChart() {
  const box = $("#chart");
  if (!box) return;
  const pts = [];
  for (let i = 1; i < S.samples.length; i++) {
    const a = S.samples[i - 1], b = S.samples[i];
    const dt = (b.t - a.t) / 1000;
    if (dt > 0) pts.push({ t: b.t, v: Math.max(0, (b.total - a.total) / dt) });
  }
  const W = 320, H = 110, pad = 24;
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("aria-hidden", "true");
  const max = Math.max(1, ...pts.map((p) => p.v));
  const now = Date.now(), span = 5 * 60 * 1000;
  const x = (t) => pad + ((t - (now - span)) / span) * (W - pad - 4);
  const y = (v) => H - 16 - (v / max) * (H - 26);
  const el = (name, attrs, text) => {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
  };
  el("line", { x1: pad, y1: H - 16, x2: W - 4, y2: H - 16, class: "axis" });
  el("line", { x1: pad, y1: 8, x2: pad, y2: H - 16, class: "axis" });
  el("text", { x: 2, y: 14, class: "tick" }, fmt(max));
  el("text", { x: 2, y: H - 16, class: "tick" }, "0");
  el("text", { x: pad, y: H - 3, class: "tick" }, "−5 min");
  el("text", { x: W - 30, y: H - 3, class: "tick" }, "now");
  if (pts.length) {
    el("polyline", { points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "), class: "line" });
  }
  box.replaceChildren(svg);
  const last = pts[pts.length - 1];
  $("#rps-now").textContent = last ? `Now: ${fmt(last.v)} requests/s (sampled every 3 s while this page is open).` : "Collecting samples…";
  box.setAttribute("aria-label", last ? `Requests per second; now ${fmt(last.v)}, peak ${fmt(max)}` : "Requests per second: collecting samples");
}
const fmt = (v) => (v >= 10 ? Math.round(v).toString() : v.toFixed(1));

// ---------------------------------------------------------------- Maintenance switch

function maintenanceCopy(nick) {
  return vservers().find((v) => v.maintenanceOf === nick) || null;
}
function maintSwitch(vs) {
  const copy = maintenanceCopy(vs.nick);
  const on = !!copy;
  if (vs.nick === "default" || vs.maintenanceOf) return null;
  return h("button", {
    type: "button", role: "switch", "aria-checked": on ? "true" : "false", class: "switch" + (on ? " on" : ""),
    "aria-label": `Maintenance of ${vs.nick}`,
    onclick: () => (on ? maintenanceOff(vs.nick) : maintenanceOn(vs.nick)),
  }, h("span.knob", { "aria-hidden": "true" }), on ? "Maintenance on" : "Maintenance off");
}
function pendingNote() {
  const n = S.edits.length;
  return n ? h("p.warn", `Your ${n} unsaved change${n > 1 ? "s are" : " is"} saved with it.`) : null;
}
function maintenanceOn(nick) {
  const vs = findVs(nick);
  const f = {};
  const mode503 = h("input", { type: "radio", name: "m-mode", id: "m-mode-503", value: "status", checked: true });
  const modePage = h("input", { type: "radio", name: "m-mode", id: "m-mode-page", value: "page" });
  f.status = h("input", { id: "m-status", type: "number", min: "200", max: "599", value: "503" });
  f.page = h("input", { id: "m-page", placeholder: "/srv/maintenance (a directory with index.html)" });
  f.retry = h("input", { id: "m-retry", type: "number", min: "0", value: "300" });
  f.from = h("input", { id: "m-from", placeholder: "10.0.0.0/8, 192.0.2.7" });
  f.cookie = h("input", { id: "m-cookie", placeholder: "staff=secret" });
  f.host = h("input", { id: "m-host", placeholder: "intranet.example.com" });
  const err = h("p.field-error#m-error", { role: "alert" });
  const body = [
    h("p", `Visitors of ${vs.domains.join(", ") || nick} get the maintenance answer; requests in flight (downloads too) finish on the current configuration. A copy named `, h("code", `${nick}-maintenance`), ` is placed above ${nick}.`),
    h("fieldset", h("legend", "Visitors get"),
      h("div.radio", mode503, h("label", { for: "m-mode-503" }, "An error status (503 Service Unavailable)")),
      h("div.field.indent", h("label", { for: "m-status" }, "Status code"), f.status),
      h("div.radio", modePage, h("label", { for: "m-mode-page" }, "A static page (served with status 200)")),
      h("div.field.indent", h("label", { for: "m-page" }, "Directory of the page"), f.page)),
    h("div.field", h("label", { for: "m-retry" }, "Retry-After (seconds)"), f.retry),
    h("fieldset", h("legend", `Staff who still reach the live ${nick}`),
      h("div.field", h("label", { for: "m-from" }, "Addresses or networks (comma separated)"), f.from),
      h("div.field", h("label", { for: "m-cookie" }, "Cookie NAME=VALUE"), f.cookie),
      h("div.field", h("label", { for: "m-host" }, `Extra host names answered by ${nick} only (comma separated)`), f.host)),
    pendingNote(), err,
  ];
  openDialog(`Put “${nick}” into maintenance`, body, [
    h("button#m-confirm", { type: "button", class: "primary", onclick: async () => {
      const op = { op: "maintenance_on", vserver: nick, retry_after: Number(f.retry.value || 300), allow_from: listOf(f.from.value), allow_host: listOf(f.host.value) };
      if (modePage.checked) {
        if (!f.page.value.trim()) { err.textContent = "Give the directory of the page, or choose the error status."; f.page.focus(); return; }
        op.page = f.page.value.trim();
      } else op.status = Number(f.status.value || 503);
      if (f.cookie.value.trim()) op.allow_cookie = f.cookie.value.trim();
      await saveNow([...S.edits, op], "graceful", `${nick} is in maintenance`);
    } }, `Put ${nick} into maintenance now`),
    h("button", { type: "button", onclick: closeDialog }, "Cancel"),
    h("p.help", "Saved and applied at once with a graceful restart."),
  ]);
}
function maintenanceOff(nick) {
  const copy = maintenanceCopy(nick);
  openDialog(`Take “${nick}” out of maintenance`, [
    h("p", `Removes the copy `, h("code", copy ? copy.nick : `${nick}-maintenance`), ` and the host names added for staff; ${nick} answers its visitors again. Graceful restart: nothing in flight is cut.`),
    pendingNote(), h("p.field-error#m-error", { role: "alert" }),
  ], [
    h("button#m-confirm", { type: "button", class: "primary", onclick: () => saveNow([...S.edits, { op: "maintenance_off", vserver: nick }], "graceful", `${nick} is back`) }, `Take ${nick} out of maintenance now`),
    h("button", { type: "button", onclick: closeDialog }, "Cancel"),
  ]);
}
/** Saves `edits` at once (the maintenance switch) and shows the answer in the dialog. */
async function saveNow(edits, mode, what) {
  const err = $("#m-error");
  const btn = $("#m-confirm");
  if (btn) btn.disabled = true;
  try {
    const r = await api("/api/save", { method: "POST", body: { edits, apply: mode }, headers: { "If-Match": S.base.etag } });
    S.edits = [];
    await preview();
    closeDialog();
    const a = r.applied;
    toast(a && a.ok ? `Done: ${what}. Generation ${a.generation} is serving.` : `Saved, but the server did not apply it: ${a ? a.message : ""}`, a && a.ok ? "info" : "error");
    refreshRunning();
    pollStatus();
  } catch (e) {
    if (btn) btn.disabled = false;
    if (err) err.textContent = e.message + ((e.body.diagnostics || []).length ? ": " + e.body.diagnostics.map((d) => d.text || d.message).join("; ") : "");
  }
}

// ---------------------------------------------------------------- Virtual servers list

let vsFilter = "";
function pageVservers() {
  const all = vservers();
  const q = vsFilter.toLowerCase();
  const shown = all.filter((v) => !q || v.nick.toLowerCase().includes(q) || v.domains.some((d) => d.toLowerCase().includes(q)) || v.documentRoot.toLowerCase().includes(q));
  const filter = h("input#vs-filter", { type: "search", value: vsFilter, placeholder: "nick, domain or directory", oninput: (e) => {
    vsFilter = e.target.value;
    render();
  } });
  const list = h("ol.vs-list#vs-list", { "aria-label": "Virtual servers in evaluation order" });
  shown.forEach((vs) => list.append(vsRow(vs, all)));
  return h("section.page",
    h("h1", "Virtual servers"),
    h("p.help", "Evaluated from the top: the first whose host names match a request answers it. ", h("code", "default"), " stays at the bottom and answers every other host. Drag a row, or use Move up / Move down, to change the order."),
    h("div.toolbar",
      h("div.field.inline", h("label", { for: "vs-filter" }, "Filter"), filter),
      h("button", { type: "button", class: "primary", onclick: addVserverDialog }, "Add virtual server")),
    shown.length ? list : h("p", "No virtual server matches the filter."));
}
function vsRow(vs, all) {
  const idx = all.indexOf(vs);
  const isDefault = vs.nick === "default";
  const copy = maintenanceCopy(vs.nick);
  const tags = [];
  if (vs.maintenanceOf) tags.push(h("span.tag.maint", `maintenance copy of ${vs.maintenanceOf}`));
  if (copy) tags.push(h("span.tag.maint", "in maintenance"));
  if (isDefault) tags.push(h("span.tag", "answers every other host"));
  const twin = !vs.maintenanceOf && vs.domains.length && all.slice(idx + 1).find((o) => o.domains.length && o.domains.every((d) => vs.domains.includes(d)));
  if (twin) tags.push(h("span.tag.copy", `takes the hosts of ${twin.nick} (below)`));
  const domains = vs.domains.map((d) => {
    const by = shadowedBy(vs, all, d);
    return h("li", { class: by ? "shadowed" : "" }, h("code", d), by ? ` — answered first by ${by.nick}${by.excludeFrom || by.excludeCookie ? " (except its excluded staff)" : ""}` : "");
  });
  const up = all[idx - 1], down = all[idx + 1];
  const row = h("li.vs-row", {
    dataset: { nick: vs.nick, key: vs.key }, draggable: isDefault ? null : "true",
    "aria-label": `${idx + 1}. ${vs.nick}`,
  },
  h("div.vs-main",
    h("span.vs-pos", { title: `vserver!${vs.id}` }, `${idx + 1}`),
    h("div.vs-desc",
      h("h2.vs-nick", h("a", { href: link("vserver", vs.nick, "basics") }, vs.nick), h("span.vs-num", ` vserver!${vs.id}`)),
      tags.length ? h("div.tags", tags) : null,
      vs.domains.length ? h("ul.domains", { "aria-label": `Hosts of ${vs.nick}` }, domains) : h("p.help", isDefault ? "" : "No host names: reached only by its nickname."),
      h("p.help", "Files: ", vs.documentRoot || "(no document root)"),
      h("p.field-error"))),
  h("div.vs-actions",
    maintSwitch(vs),
    isDefault ? null : h("button", { type: "button", class: "small", "aria-label": `Move ${vs.nick} up`, disabled: !up, onclick: () => moveVserver(vs.nick, "up", { above: up.nick }), dataset: { move: "up" } }, "Move up"),
    isDefault ? null : h("button", { type: "button", class: "small", "aria-label": `Move ${vs.nick} down`, disabled: !down || down.nick === "default", onclick: () => moveVserver(vs.nick, "down", { below: down.nick }), dataset: { move: "down" } }, "Move down"),
    h("button", { type: "button", class: "small", "aria-label": `Clone ${vs.nick}`, onclick: () => cloneDialog(vs.nick) }, "Clone"),
    isDefault ? null : h("button", { type: "button", class: "small danger", "aria-label": `Remove ${vs.nick}`, onclick: () => removeVserver(vs.nick) }, "Remove")));
  if (!isDefault) dragSource(row, vs.nick, all);
  return row;
}
/** Moves a vserver one place; the keyboard focus stays on its row's move button. */
function moveVserver(nick, dir, where) {
  const row = `[data-nick="${CSS.escape(nick)}"]`;
  S.focusAfter = [`${row} [data-move=${dir}]`, `${row} [data-move=${dir === "up" ? "down" : "up"}]`];
  return edit(Object.assign({ op: "vserver_move", nick }, where));
}
/** HTML drag and drop between rows of the vserver list. */
function dragSource(row, nick) {
  row.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData("text/x-baton-vserver", nick);
    e.dataTransfer.effectAllowed = "move";
    row.classList.add("dragging");
  });
  row.addEventListener("dragend", () => row.classList.remove("dragging"));
  row.addEventListener("dragover", (e) => {
    if (!e.dataTransfer.types.includes("text/x-baton-vserver")) return;
    e.preventDefault();
    const lower = e.offsetY > row.offsetHeight / 2 && row.dataset.nick !== "default";
    row.classList.toggle("drop-above", !lower);
    row.classList.toggle("drop-below", lower);
  });
  row.addEventListener("dragleave", () => row.classList.remove("drop-above", "drop-below"));
  row.addEventListener("drop", (e) => {
    e.preventDefault();
    const below = row.classList.contains("drop-below");
    row.classList.remove("drop-above", "drop-below");
    const moving = e.dataTransfer.getData("text/x-baton-vserver");
    if (!moving || moving === nick) return;
    edit(below ? { op: "vserver_move", nick: moving, below: nick } : { op: "vserver_move", nick: moving, above: nick });
  });
}
function addVserverDialog() {
  const nick = h("input#add-nick", { required: true, autocomplete: "off" });
  const root = h("input#add-root", { required: true, placeholder: "/srv/www/example" });
  const doms = h("input#add-domains", { placeholder: "example.com, *.example.com" });
  const err = h("p.field-error", { role: "alert" });
  openDialog("Add a virtual server", [
    h("div.field", h("label", { for: "add-nick" }, "Nick (unique name)"), nick),
    h("div.field", h("label", { for: "add-root" }, "Document root"), root),
    h("div.field", h("label", { for: "add-domains" }, "Host names (comma separated)"), doms),
    h("p.help", "It is placed above every other virtual server, with one default rule on List & Send."), err,
  ], [
    h("button", { type: "button", class: "primary", onclick: async () => {
      if (!nick.value.trim() || !root.value.trim()) { err.textContent = "Give a nick and a document root."; return; }
      const n = nick.value.trim();
      closeDialog();
      if (await edit({ op: "vserver_add", nick: n, document_root: root.value.trim(), domains: listOf(doms.value) })) go("vserver", n, "basics");
    } }, "Add"),
    h("button", { type: "button", onclick: closeDialog }, "Cancel"),
  ]);
}
function cloneDialog(source) {
  const nick = h("input#clone-nick", { value: `${source}-copy`, autocomplete: "off" });
  const err = h("p.field-error", { role: "alert" });
  const src = findVs(source);
  openDialog(`Clone “${source}”`, [
    h("p", `Copies every setting of `, h("strong", source), ` (${src && src.domains.length ? "hosts " + src.domains.join(", ") : "no host names"}, ${src ? src.rules.length : 0} rules) into a new virtual server placed directly above it, so the copy answers those hosts first.`),
    h("div.field", h("label", { for: "clone-nick" }, "Nick of the copy"), nick), err,
  ], [
    h("button#clone-confirm", { type: "button", class: "primary", onclick: async () => {
      const n = nick.value.trim();
      if (!n) { err.textContent = "Give the copy a nick."; return; }
      closeDialog();
      if (await edit({ op: "vserver_clone", source, nick: n })) {
        go("vserver", n, "basics");
        toast(`Cloned ${source} as ${n}. You are now editing ${n}.`);
      }
    } }, `Clone ${source}`),
    h("button", { type: "button", onclick: closeDialog }, "Cancel"),
  ]);
}
async function removeVserver(nick) {
  const vs = findVs(nick);
  const ok = await confirmDialog(`Remove “${nick}”`, `Remove the virtual server ${nick} (vserver!${vs.id}, hosts: ${vs.domains.join(", ") || "none"}) and its ${vs.rules.length} rules? Nothing is written until you save.`, `Remove ${nick}`, true);
  if (!ok) return;
  if (await edit({ op: "vserver_remove", nick }) && route().page === "vserver") go("vservers");
}

// ---------------------------------------------------------------- Virtual server page

const TABS = [["basics", "Basics"], ["hosts", "Host match"], ["behavior", "Behavior"], ["errors", "Error handler"], ["logging", "Logging"]];
function pageVserver(nick, tab, rest) {
  const all = vservers();
  const vs = all.find((v) => v.nick === nick);
  if (!vs) {
    return h("section.page", h("h1", `No virtual server “${nick}”`), h("p", "It may have been renamed or removed. ", h("a", { href: link("vservers") }, "Back to the list")));
  }
  const pos = all.indexOf(vs) + 1;
  const copy = maintenanceCopy(vs.nick);
  const tabs = h("div.tabs", { role: "tablist", "aria-label": `Settings of ${nick}` }, TABS.map(([id, label]) =>
    h("a", { role: "tab", href: link("vserver", nick, id), id: `tab-${id}`, "aria-selected": id === tab ? "true" : "false", class: id === tab ? "active" : "" }, label)));
  let panel;
  if (tab === "behavior" && rest.length) panel = ruleEditor(vs, Number(rest[0]));
  else {
    switch (tab) {
      case "hosts": panel = tabHosts(vs, all); break;
      case "behavior": panel = tabBehavior(vs); break;
      case "errors": panel = tabErrors(vs); break;
      case "logging": panel = tabLogging(vs); break;
      default: panel = tabBasics(vs); break;
    }
  }
  return h("section.page",
    h("nav.crumbs", { "aria-label": "Breadcrumb" }, h("a", { href: link("vservers") }, "Virtual servers"), " › ", vs.nick),
    h("div.page-head",
      h("h1", "Virtual server ", `“${vs.nick}”`),
      h("div.row", maintSwitch(vs),
        h("button", { type: "button", class: "small", onclick: () => cloneDialog(vs.nick) }, `Clone ${vs.nick}`),
        vs.nick === "default" ? null : h("button", { type: "button", class: "small danger", onclick: () => removeVserver(vs.nick) }, `Remove ${vs.nick}`))),
    h("p.help", `Position ${pos} of ${all.length} (vserver!${vs.id})`,
      vs.maintenanceOf ? ` · maintenance copy of ${vs.maintenanceOf}` : "",
      copy ? ` · in maintenance, served by ${copy.nick}` : ""),
    tabs,
    h("div.tabpanel", { role: "tabpanel", "aria-labelledby": `tab-${tab}` }, panel));
}
function tabBasics(vs) {
  const p = vs.key;
  const nickId = keyId(`${p}!nick`);
  const nickInput = h("input", { id: nickId, value: vs.nick, disabled: vs.nick === "default", onchange: async (e) => {
    const n = e.target.value.trim();
    if (!n || n === vs.nick) return;
    if (await edit({ op: "set", key: `${p}!nick`, value: n })) go("vserver", n, "basics");
  } });
  return h("div",
    h("h2", `Basics of ${vs.nick}`),
    fieldWrap(`${p}!nick`, "Nick", nickInput, vs.nick === "default" ? "The default virtual server keeps its name." : "Unique name; also matched as a host name unless switched off in Host match.", nickId),
    textField(`${p}!document_root`, "Document root", { help: "Directory the files are served from." }),
    textField(`${p}!directory_index`, "Directory indexes", { help: "Comma separated: file names (index.html) or URLs starting with / (internal redirection).", placeholder: "index.html" }),
    boolField(`${p}!keepalive`, "Keep-alive", true, "No closes every connection after its response."));
}
function tabHosts(vs, all) {
  const p = vs.key;
  const m = `${p}!match`;
  const type = get(m) || "";
  const changeType = (e) => {
    const t = e.target.value;
    const ops = unsetChildren(m, ["exclude", "nick"]);
    if (!t) edit(...ops, ...(has(m) ? [{ op: "unset", key: m }] : []));
    else edit(...ops, { op: "set", key: m, value: t });
  };
  const parts = [
    h("h2", `Host match of ${vs.nick}`),
    vs.nick === "default" ? h("p.help", "The default virtual server answers every host that no other one takes.") : null,
    selectField(m, "Match hosts by", [["wildcard", "Host names (wildcards * and ?)"], ["rehost", "Regular expressions"], ["target_ip", "Local address the connection came to"]], { unsetLabel: "Nickname only", onchange: changeType }),
  ];
  if (type === "wildcard") parts.push(listField(`${m}!domain`, "Host names", { placeholder: "example.com or *.example.com", addLabel: "Add host" }));
  if (type === "rehost") parts.push(listField(`${m}!regex`, "Regular expressions", { placeholder: "^(www\\.)?example\\.(com|org)$", addLabel: "Add expression" }));
  if (type === "target_ip") parts.push(listField(`${m}!to`, "Local addresses", { placeholder: "192.0.2.1 or 10.0.0.0/8", addLabel: "Add address" }));
  if (type === "v_or") parts.push(h("p.help", "This virtual server combines two host matches (v_or): ", vs.domains.join(", "), ". Edit it in the file."));
  if (numbered(`${p}!domain`).length) parts.push(listField(`${p}!domain`, "Host names (older form)", {}));
  parts.push(boolField(`${m}!nick`, "Also match the nick as a host name", true));
  if (vs.nick !== "default") {
    parts.push(h("h3", "Requests this virtual server lets through"),
      h("p.help", "Requests matching these are left to the virtual servers below (used for staff during maintenance)."),
      textField(`${m}!exclude!from`, "Excluded client addresses", { placeholder: "10.0.0.0/8, 127.0.0.1" }),
      textField(`${m}!exclude!cookie`, "Excluded cookies", { placeholder: "staff=secret" }));
  }
  const answers = vs.domains.map((d) => {
    const by = shadowedBy(vs, all, d);
    return h("li", h("code", d), by ? ` — taken first by ${by.nick} (placed above)` : " — answered here");
  });
  if (answers.length) parts.push(h("h3", "Who answers these hosts"), h("ul", answers));
  return h("div", parts);
}

// ---------------------------------------------------------------- Behavior (rules)

const HANDLERS = [
  ["common", "List & Send (common)"], ["file", "Static files (file)"], ["dirlist", "Directory listing (dirlist)"], ["redir", "Redirection (redir)"],
  ["custom_error", "HTTP error (custom_error)"], ["empty_gif", "1x1 transparent GIF (empty_gif)"], ["drop", "Drop the connection (drop)"],
  ...["cgi", "fcgi", "scgi", "uwsgi", "proxy", "ssi", "secdownload", "server_info"].map((x) => [x, `${x} (not available in Baton yet)`, true]),
];
const MATCHES = [
  ["default", "Default (everything)"], ["directory", "Directory"], ["extensions", "File extensions"], ["request", "Regular expression on the request"],
  ["header", "Header"], ["exists", "File exists"], ["method", "HTTP method"], ["fullpath", "Full path"], ["from", "Client address"],
  ["url_arg", "Query argument"], ["bind", "Incoming listener"], ["tls", "TLS connection"], ["and", "AND of two rules"], ["or", "OR of two rules"], ["not", "NOT of a rule"],
];
const STATUSES = [[400, "Bad Request"], [401, "Unauthorized"], [403, "Forbidden"], [404, "Not Found"], [405, "Method Not Allowed"], [410, "Gone"], [413, "Content Too Large"],
  [429, "Too Many Requests"], [451, "Unavailable For Legal Reasons"], [500, "Internal Server Error"], [501, "Not Implemented"], [502, "Bad Gateway"], [503, "Service Unavailable"], [504, "Gateway Timeout"]];
function tabBehavior(vs) {
  const rules = vs.rules;
  const table = h("table.rules#rules",
    h("caption", `Rules of ${vs.nick}, from the first evaluated`),
    h("thead", h("tr", ["#", "Match", "Handler", "Auth", "Encoders", "Final", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", rules.map((r, i) => {
      const tr = h("tr", { dataset: { key: r.key, priority: String(r.priority) }, class: r.disabled ? "disabled" : "", draggable: "true" },
        h("td", { "data-label": "Priority" }, String(r.priority)),
        h("td", { "data-label": "Match" }, r.summary, r.disabled ? h("span.tag", "disabled") : null, h("p.field-error")),
        h("td", { "data-label": "Handler" }, handlerSummary(r)),
        h("td", { "data-label": "Auth" }, r.auth ? r.auth : "—"),
        h("td", { "data-label": "Encoders" }, r.encoders.join(", ") || "—"),
        h("td", { "data-label": "Final" }, r.final ? "yes" : "no, continues"),
        h("td.actions",
          h("a", { class: "button small", href: link("vserver", vs.nick, "behavior", String(r.priority)), "aria-label": `Edit rule ${r.priority} of ${vs.nick}` }, "Edit"),
          h("button", { type: "button", class: "small", disabled: i === 0, "aria-label": `Move rule ${r.priority} up`, onclick: () => moveRule(vs, i, i - 1) }, "Up"),
          h("button", { type: "button", class: "small", disabled: i === rules.length - 1, "aria-label": `Move rule ${r.priority} down`, onclick: () => moveRule(vs, i, i + 1) }, "Down"),
          h("button", { type: "button", class: "small danger", "aria-label": `Remove rule ${r.priority} of ${vs.nick}`, onclick: async () => {
            if (await confirmDialog(`Remove rule ${r.priority} of “${vs.nick}”`, `Remove the rule “${r.summary} → ${r.handler}” from ${vs.nick}?`, "Remove rule", true)) edit({ op: "rule_remove", vserver: vs.nick, priority: r.priority });
          } }, "Remove")));
      tr.addEventListener("dragstart", (e) => e.dataTransfer.setData("text/x-baton-rule", String(i)));
      tr.addEventListener("dragover", (e) => { if (e.dataTransfer.types.includes("text/x-baton-rule")) e.preventDefault(); });
      tr.addEventListener("drop", (e) => {
        e.preventDefault();
        const from = Number(e.dataTransfer.getData("text/x-baton-rule"));
        if (!Number.isNaN(from) && from !== i) moveRule(vs, from, i);
      });
      return tr;
    })));
  return h("div",
    h("h2", `Behavior of ${vs.nick}`),
    h("p.help", "Rules are evaluated from the top (the largest number first). A matching final rule ends the evaluation; the default rule completes whatever is still unset."),
    h("div.table-wrap", table),
    h("div.row", h("button", { type: "button", class: "primary", onclick: () => addRuleDialog(vs) }, `Add a rule to ${vs.nick}`)));
}
function handlerSummary(r) {
  if (r.handler === "custom_error") return `custom_error ${get(`${r.key}!handler!error`) || "(no status)"}`;
  if (r.handler === "redir") {
    const first = numbered(`${r.key}!handler!rewrite`).reverse()[0];
    return first !== undefined ? `redir → ${get(`${r.key}!handler!rewrite!${first}!substring`) || ""}` : `redir → ${get(`${r.key}!handler!url`) || ""}`;
  }
  return r.handler || "— (inherits)";
}
/** Reorders rule `from` to index `to` by renumbering (rule_move), keeping numbers unique. */
function moveRule(vs, from, to) {
  const order = vs.rules.map((r) => r.priority);
  const [moving] = order.splice(from, 1);
  order.splice(to, 0, moving);
  const upper = to === 0 ? Infinity : order[to - 1];
  const lower = to === order.length - 1 ? 0 : order[to + 1];
  let target = null;
  if (upper === Infinity) target = (Math.floor(lower / 100) + 1) * 100;
  else if (upper - lower >= 2) {
    const mid = Math.floor((upper + lower) / 2);
    const ten = Math.round(mid / 10) * 10;
    target = ten > lower && ten < upper ? ten : mid;
  }
  if (target !== null) return edit({ op: "rule_move", vserver: vs.nick, priority: moving, to: target });
  // No free number between the neighbours: renumber all, through temporary numbers.
  const ops = [];
  const base = Math.max(...order) + 100000;
  order.forEach((p, i) => ops.push({ op: "rule_move", vserver: vs.nick, priority: p, to: base + i }));
  order.forEach((p, i) => ops.push({ op: "rule_move", vserver: vs.nick, priority: base + i, to: (order.length - i) * 100 }));
  return edit(...ops);
}
function addRuleDialog(vs) {
  const m = h("select#nr-match", MATCHES.map(([v, l]) => h("option", { value: v }, l)));
  m.value = "directory";
  const hsel = h("select#nr-handler", HANDLERS.map(([v, l, d]) => h("option", { value: v, disabled: d }, l)));
  hsel.value = "common";
  openDialog(`Add a rule to “${vs.nick}”`, [
    h("div.field", h("label", { for: "nr-match" }, "Match"), m),
    h("div.field", h("label", { for: "nr-handler" }, "Handler"), hsel),
    h("p.help", "The rule is placed above the others; its editor opens next so you can fill in what it matches."),
  ], [
    h("button", { type: "button", class: "primary", onclick: async () => {
      closeDialog();
      const before = vs.rules.map((r) => r.priority);
      if (await edit({ op: "rule_add", vserver: vs.nick, match: m.value, handler: hsel.value })) {
        const now = findVs(vs.nick);
        const added = now && now.rules.find((r) => !before.includes(r.priority));
        if (added) go("vserver", vs.nick, "behavior", String(added.priority));
      }
    } }, "Add rule"),
    h("button", { type: "button", onclick: closeDialog }, "Cancel"),
  ]);
}

function ruleEditor(vs, priority) {
  const r = vs.rules.find((x) => x.priority === priority);
  if (!r) return h("div", h("h2", `${vs.nick} has no rule ${priority}`), h("a", { href: link("vserver", vs.nick, "behavior") }, `Back to the rules of ${vs.nick}`));
  const k = r.key;
  const handler = get(`${k}!handler`) || "";
  return h("div.rule-editor",
    h("p", h("a", { href: link("vserver", vs.nick, "behavior") }, `← All rules of ${vs.nick}`)),
    h("h2", `Rule ${priority} of `, `“${vs.nick}”`, `: ${r.summary}`),
    h("section.card", h("h3", "Match"), matchEditor(`${k}!match`, 0),
      boolField(`${k}!match!final`, "Final (stop evaluating rules when this one matches)", true),
      boolField(`${k}!disabled`, "Disabled", false)),
    h("section.card", h("h3", "Handler"),
      selectField(`${k}!handler`, "Handler", HANDLERS, { unsetLabel: "None (inherited from lower rules)", onchange: (e) => {
        const v = e.target.value;
        const ops = unsetChildren(`${k}!handler`);
        if (!v) edit(...ops, ...(has(`${k}!handler`) ? [{ op: "unset", key: `${k}!handler` }] : []));
        else edit(...ops, { op: "set", key: `${k}!handler`, value: v });
      } }),
      handlerOptions(`${k}!handler`, handler),
      textField(`${k}!document_root`, "Document root for this rule", { help: "For a directory rule, the directory is replaced by this one." }),
      textField(`${k}!timeout`, "Timeout", { help: "The handler must answer within this time (504 otherwise), e.g. 30s." })),
    h("section.card", h("h3", "Encoders"),
      ["gzip", "deflate"].map((e) => selectField(`${k}!encoder!${e}`, e, [["allow", "Allow"], ["forbid", "Forbid"]], { unsetLabel: "Not set (inherited)" }))),
    h("section.card", h("h3", "Expiration"), expirationEditor(k)),
    h("section.card", h("h3", "Header operations"), headerOps(k)),
    h("section.card", h("h3", "Access"),
      textField(`${k}!allow_from`, "Allowed client addresses", { help: "Others get 403. Comma separated addresses or networks.", placeholder: "10.0.0.0/8, ::1" }),
      boolField(`${k}!only_secure`, "Only over TLS (plain HTTP gets 426)", false),
      boolField(`${k}!no_log`, "Do not write to the access log", false),
      has(`${k}!auth`) ? h("p.warn", "Authentication validators are not available in Baton yet: this rule is refused until auth is removed.") : null));
}
function matchEditor(m, depth) {
  const t = matchType(m);
  const box = h("div.match", { class: depth ? "match nested" : "match" });
  const typeKey = has(m) || !has(`${m}!type`) ? m : `${m}!type`;
  box.append(selectField(typeKey, depth ? "Type" : "Match type", MATCHES, { unsetLabel: "— choose —", onchange: (e) => {
    const v = e.target.value;
    const ops = unsetChildren(m, depth ? [] : ["final"]);
    if (v) edit(...ops, { op: "set", key: m, value: v });
  } }));
  const tf = (key, label, opts) => textField(`${m}!${key}`, label, opts);
  switch (t) {
    case "directory": box.append(tf("directory", "Directory", { placeholder: "/downloads" })); break;
    case "extensions": box.append(tf("extensions", "Extensions (comma separated)", { placeholder: "php,py" }), boolField(`${m}!check_local_file`, "Only when the file exists", false)); break;
    case "request": box.append(tf("request", "Regular expression", { placeholder: "^/old/(.*)$" })); break;
    case "header": box.append(tf("header", "Header", { placeholder: "User-Agent" }), tf("match", "Regular expression on its value"),
      selectField(`${m}!type`, "Condition", [["regex", "Value matches the expression"], ["provided", "Header is present"]], { unsetLabel: "Value matches the expression (default)" })); break;
    case "exists": box.append(tf("exists", "File names (comma separated)"), boolField(`${m}!match_any`, "Any existing file", false), boolField(`${m}!match_only_files`, "Only files (not directories)", true), boolField(`${m}!iocache`, "Use the I/O cache", true)); break;
    case "method": box.append(tf("method", "Methods (comma separated)", { placeholder: "get,post" })); break;
    case "fullpath": box.append(listField(`${m}!fullpath`, "Paths", { placeholder: "/favicon.ico" })); break;
    case "from": box.append(tf("from", "Client addresses or networks", { placeholder: "127.0.0.1, 10.0.0.0/8" })); break;
    case "url_arg": box.append(tf("arg", "Argument (empty: any)"), tf("match", "Regular expression on its value")); break;
    case "bind": box.append(listField(`${m}!bind`, "Listener ids (server!bind!N)", { placeholder: "1" })); break;
    case "and": case "or":
      box.append(h("div.nested-pair", h("h4", t === "and" ? "Both of" : "Either of"), h("p.help", "Left:"), matchEditor(`${m}!left`, depth + 1), h("p.help", t === "and" ? "and right:" : "or right:"), matchEditor(`${m}!right`, depth + 1)));
      break;
    case "not": box.append(h("div.nested-pair", h("h4", "Does not match:"), matchEditor(`${m}!right`, depth + 1))); break;
    default: break;
  }
  return box;
}
function handlerOptions(hk, handler) {
  const tf = (key, label, opts) => textField(`${hk}!${key}`, label, opts);
  const b = (key, label, def) => boolField(`${hk}!${key}`, label, def);
  const fileOpts = () => [b("iocache", "I/O cache", true), b("symlinks", "Follow symbolic links", true)];
  const dirOpts = () => [b("size", "Show size", true), b("date", "Show date", true), b("user", "Show user", false), b("group", "Show group", false),
    b("hidden", "Show hidden files", false), b("backup", "Show backup files", false), tf("notice_files", "Notice files (comma separated)"), tf("theme", "Theme (accepted, one built-in)"), tf("icon_dir", "Icon directory (accepted)")];
  switch (handler) {
    case "common": return h("div.options", b("allow_dirlist", "Allow directory listings", true), b("allow_pathinfo", "Allow path info (/file.txt/extra)", false), fileOpts(), dirOpts());
    case "file": return h("div.options", fileOpts());
    case "dirlist": return h("div.options", dirOpts(), b("symlinks", "Follow symbolic links", true));
    case "custom_error": return h("div.options", selectField(`${hk}!error`, "Status answered", STATUSES.map(([c, l]) => [String(c), `${c} ${l}`]), { unsetLabel: "— choose a status —", help: "Any status 200-599 is accepted in the file; the usual ones are listed." }));
    case "redir": {
      const nums = numbered(`${hk}!rewrite`).reverse();
      const rows = nums.map((n) => {
        const p = `${hk}!rewrite!${n}`;
        return h("fieldset.field", { dataset: { key: p } }, h("legend", `Rewrite ${n}`),
          textField(`${p}!regex`, "Regular expression", { placeholder: "^/old/(.*)$" }),
          textField(`${p}!substring`, "Substitution", { placeholder: "/new/$1 or https://${host}/$1" }),
          selectField(`${p}!show`, "Kind", [["1", "External (301, the browser sees the new URL)"], ["0", "Internal (served in place)"]], { unsetLabel: "Internal (default)" }),
          h("button", { type: "button", class: "small danger", onclick: () => edit({ op: "unset", key: p }) }, `Remove rewrite ${n}`));
      });
      const next = (nums.length ? Math.max(...nums) : 0) + 1;
      return h("div.options", rows,
        h("button", { type: "button", class: "small", onclick: () => edit({ op: "set", key: `${hk}!rewrite!${next}!show`, value: "0" }) }, "Add a rewrite"),
        tf("url", "URL when nothing matches"));
    }
    default: return null;
  }
}
function expirationEditor(k) {
  const e = get(`${k}!expiration`) || "";
  const c = `${k}!expiration!caching`;
  return h("div",
    selectField(`${k}!expiration`, "Expiration", [["epoch", "Already expired (epoch)"], ["max", "Never (max)"], ["time", "After a time"], ["none", "None"]], { unsetLabel: "Not set (inherited)" }),
    e === "time" ? textField(`${k}!expiration!time`, "Time", { placeholder: "1h, 7d" }) : null,
    selectField(c, "Cache-Control", [["public", "public"], ["private", "private"], ["no-cache", "no-cache"]], { unsetLabel: "Not set" }),
    h("div.checks", ["no-store", "no-transform", "must-revalidate", "proxy-revalidate"].map((f) => boolField(`${c}!${f}`, f, false))));
}
function headerOps(k) {
  const p = `${k}!header_op`;
  const nums = numbered(p).reverse();
  const rows = nums.map((n) => {
    const q = `${p}!${n}`;
    return h("fieldset.field.header-op", { dataset: { key: q } }, h("legend", `Operation ${n}`),
      selectField(`${q}!type`, "Type", [["add", "Add"], ["del", "Delete"]], { unsetLabel: "Add (default)" }),
      textField(`${q}!header`, "Header", { placeholder: "Cache-Control" }),
      textField(`${q}!value`, "Value"),
      h("button", { type: "button", class: "small danger", onclick: () => edit({ op: "unset", key: q }) }, `Remove operation ${n}`));
  });
  const next = (nums.length ? Math.max(...nums) : 0) + 1;
  return h("div", rows.length ? rows : h("p.help", "No header operation."),
    h("button", { type: "button", class: "small", onclick: () => edit({ op: "set", key: `${p}!${next}!type`, value: "add" }, { op: "set", key: `${p}!${next}!header`, value: "X-Example" }) }, "Add a header operation"));
}

// ---------------------------------------------------------------- Error handler, logging

function tabErrors(vs) {
  const p = `${vs.key}!error_handler`;
  const type = get(p) || "";
  const parts = [h("h2", `Error handler of ${vs.nick}`),
    selectField(p, "Error handler", [["error_redir", "Custom pages per status (error_redir)"], ["error_nn", "Closest name for a 404 (error_nn)"]], { unsetLabel: "None (built-in error pages)", onchange: (e) => {
      const v = e.target.value;
      const ops = unsetChildren(p);
      if (!v) edit(...ops, ...(has(p) ? [{ op: "unset", key: p }] : []));
      else edit(...ops, { op: "set", key: p, value: v });
    } })];
  if (type === "error_redir") {
    const codes = children(p);
    for (const c of codes) {
      parts.push(h("fieldset.field", { dataset: { key: `${p}!${c}` } }, h("legend", c === "default" ? "Every other status" : `Status ${c}`),
        textField(`${p}!${c}!url`, "Page (URL path)", { placeholder: "/errors/404.html" }),
        boolField(`${p}!${c}!show`, "External redirection (302) instead of serving in place", false),
        h("button", { type: "button", class: "small danger", onclick: () => edit({ op: "unset", key: `${p}!${c}` }) }, `Remove ${c === "default" ? "the default page" : "status " + c}`)));
    }
    const code = h("input#eh-code", { placeholder: "404 or default", size: "10" });
    const url = h("input#eh-url", { placeholder: "/errors/404.html" });
    parts.push(h("div.list-add", h("label", { for: "eh-code" }, "Status"), code, h("label", { for: "eh-url" }, "Page"), url,
      h("button", { type: "button", class: "small", onclick: () => {
        const c = code.value.trim();
        if (c && url.value.trim()) edit({ op: "set", key: `${p}!${c}!url`, value: url.value.trim() });
      } }, "Add a page")));
  }
  return h("div", parts);
}
function tabLogging(vs) {
  const p = `${vs.key}!logger`;
  const parts = [h("h2", `Logging of ${vs.nick}`),
    selectField(p, "Access log format", [["combined", "Combined"], ["ncsa", "NCSA"], ["custom", "Custom template"]], { unsetLabel: "No access log" })];
  if (get(p) === "custom") parts.push(textField(`${p}!access_template`, "Template", { placeholder: "${ip_remote} ${request} ${status}" }));
  for (const [which, label] of [["access", "Access log"], ["error", "Error log"]]) {
    const q = `${p}!${which}`;
    const t = get(`${q}!type`) || "";
    parts.push(h("fieldset.field", { dataset: { key: q } }, h("legend", label),
      selectField(`${q}!type`, "Written to", [["file", "A file"], ["stderr", "Standard error"], ["syslog", "Syslog"], ["exec", "A program"]], { unsetLabel: "Not set" }),
      t === "file" ? textField(`${q}!filename`, "File name", { placeholder: "/var/log/baton/access.log" }) : null,
      t === "exec" ? textField(`${q}!command`, "Command") : null,
      which === "access" ? textField(`${q}!buffsize`, "Buffer size (bytes)", { type: "number" }) : null));
  }
  return h("div", parts);
}

// ---------------------------------------------------------------- Server settings

function pageServer() {
  const binds = numbered("server!bind").reverse();
  const next = (binds.length ? Math.max(...binds) : 0) + 1;
  return h("section.page",
    h("h1", "Server settings"),
    h("section.card", h("h2", "Listeners"),
      binds.map((n) => h("fieldset.field", { dataset: { key: `server!bind!${n}` } }, h("legend", `Listener ${n} (server!bind!${n})`),
        h("div.two", textField(`server!bind!${n}!port`, "Port", { type: "number" }), textField(`server!bind!${n}!interface`, "Interface", { placeholder: "all addresses" })),
        boolField(`server!bind!${n}!tls`, "TLS (not available yet)", false),
        h("button", { type: "button", class: "small danger", onclick: async () => {
          if (await confirmDialog(`Remove listener ${n}`, `Remove listener ${n} (port ${get(`server!bind!${n}!port`) || "?"})? Rules matching it by bind stop matching.`, "Remove listener", true)) edit({ op: "unset", key: `server!bind!${n}` });
        } }, `Remove listener ${n}`))),
      h("button", { type: "button", class: "small", onclick: () => edit({ op: "set", key: `server!bind!${next}!port`, value: "8080" }) }, "Add a listener")),
    h("section.card", h("h2", "Connections"),
      textField("server!timeout", "Timeout", { help: "Seconds a connection may stay silent: waiting for a request, or taking none of a response (15). Durations: 30, 30s, 5m, 2h.", placeholder: "15" }),
      boolField("server!keepalive", "Keep-alive", true),
      textField("server!keepalive_max_requests", "Requests per connection", { type: "number", placeholder: "500", help: "0: no limit." }),
      textField("server!drain_timeout", "Drain timeout", { placeholder: "30", help: "How long a request may keep an old generation alive after a graceful restart." }),
      textField("server!listen_queue", "Listen queue", { type: "number", placeholder: "1024" }),
      textField("server!thread_number", "Worker threads", { type: "number", placeholder: "one per core" }),
      boolField("server!ipv6", "IPv6 when no interface is given", true)),
    h("section.card", h("h2", "Identity"),
      selectField("server!server_tokens", "Server header", [["product", "product (Baton)"], ["minor", "minor"], ["minimal", "minimal"], ["os", "os"], ["full", "full"]], { unsetLabel: "Default (full)" }),
      h("div.two", textField("server!user", "User", { help: "Switched to after binding when started as root." }), textField("server!group", "Group")),
      textField("server!pid_file", "PID file"),
      textField("server!control_socket", "Control socket", { help: "The admin talks to the server through it." })));
}

// ---------------------------------------------------------------- History

function pageHistory(id) {
  if (!S.history) loadHistory();
  const list = S.history ? S.history.versions : null;
  const sel = id && S.historyItem && S.historyItem.id === id ? S.historyItem : null;
  if (id && !sel) loadVersion(id);
  return h("section.page",
    h("h1", id ? `History: version ${id}` : "History"),
    h("p.help", "Every save keeps the version it replaced (the last 50). Roll back puts one back with a graceful restart; the current version is kept in turn."),
    h("div.history",
      h("nav.versions", { "aria-label": "Saved versions" },
        list === null ? h("p", "Loading…") : list.length === 0 ? h("p", "No saved versions yet: the history starts with the first save.") :
          h("ol.plain-list#versions", list.map((v) => h("li", h("a", { href: link("history", v.id), "aria-current": v.id === id ? "page" : null }, v.id), h("span.help", ` ${v.size} bytes`))))),
      h("div.version",
        !id ? h("p", "Choose a version to see how it differs from the current file.")
          : !sel ? h("p", "Loading…")
            : [h("h2", `Going back to ${sel.id} changes:`), sel.diff ? diffView(sel.diff) : h("p", "Nothing: it is identical to the current file."),
              S.edits.length ? h("p.warn", `Your ${S.edits.length} unsaved change(s) are discarded by a rollback.`) : null,
              h("button#rollback", { type: "button", class: "primary", onclick: () => rollback(sel.id) }, `Roll back to ${sel.id} (graceful restart)`)])));
}
async function loadHistory() {
  try {
    S.history = await api("/api/history");
  } catch (e) {
    S.history = { versions: [] };
    toast(e.message, "error");
  }
  if (route().page === "history") render();
}
async function loadVersion(id) {
  if (loadVersion.pending === id) return;
  loadVersion.pending = id;
  try {
    S.historyItem = await api(`/api/history/${encodeURIComponent(id)}`);
  } catch (e) {
    toast(e.message, "error");
  } finally {
    loadVersion.pending = null;
  }
  if (route().page === "history") render();
}
async function rollback(id) {
  if (!(await confirmDialog(`Roll back to ${id}`, `Put version ${id} back and apply it with a graceful restart? Requests in flight finish on the current configuration.`, "Roll back", false))) return;
  try {
    const r = await api(`/api/history/${encodeURIComponent(id)}/rollback`, { method: "POST", body: { mode: "graceful" }, headers: { "If-Match": S.base.etag } });
    S.edits = [];
    S.history = null;
    S.historyItem = null;
    await preview();
    const a = r.applied;
    toast(a && a.ok ? `Rolled back to ${id}: generation ${a.generation} is serving.` : `Rolled back to ${id}, but the server did not apply it: ${a ? a.message : ""}`, a && a.ok ? "info" : "error");
    go("history");
    refreshRunning();
  } catch (e) {
    toast(e.status === 412 ? "The file changed since you read it: reload the page and try again." : e.message, "error");
  }
}

// ---------------------------------------------------------------- Save dialog

function diffView(text) {
  const pre = h("pre.diff", { tabindex: "0", "aria-label": "Difference" });
  for (const line of text.split("\n")) {
    const cls = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
    pre.append(h("span", { class: cls }, line + "\n"));
  }
  return pre;
}
async function openSave() {
  if (!S.edits.length) return;
  await queue;
  const errors = S.diags.filter((d) => d.severity === "error");
  const mode = (m, label, text, cls) => h("div.mode", h("button", { type: "button", class: cls, "data-mode": m, disabled: errors.length > 0, onclick: () => doSave(m) }, label), h("p.help", text));
  openDialog(`Save ${S.edits.length} change${S.edits.length > 1 ? "s" : ""} to ${S.base.path}`, [
    h("ol.edits", S.edits.map((e) => h("li", describeEdit(e)))),
    h("h3", "What changes in the file"), diffView(S.diff || ""),
    errors.length ? h("div.bad#save-errors", { role: "alert" }, h("p", "The server would refuse this configuration:"), h("ul", errors.map((d) => {
      const where = whereIs(d.key);
      return h("li", where ? h("a", { href: where, onclick: closeDialog }, d.key) : d.key, ": ", d.message);
    }))) : null,
    h("div#save-result", { role: "status", "aria-live": "polite" }),
  ], [
    mode("graceful", "Graceful restart", "Save, then apply: requests in flight finish on the old configuration, new ones get the new one. Nobody is cut off.", "primary"),
    mode("hard", "Hard restart", "Save, then apply and close the connections opened before: downloads in progress are cut.", ""),
    mode("none", "Save without restart", "Only write the file; the server keeps the old configuration until you apply it (Overview).", ""),
    h("div.mode", h("button", { type: "button", onclick: closeDialog }, "Cancel"), h("p.help", "Nothing is written; your changes stay here.")),
  ], { wide: true });
}
async function doSave(mode) {
  const result = $("#save-result");
  for (const b of $$("#dialog [data-mode]")) b.disabled = true;
  result.replaceChildren(h("p", "Saving…"));
  try {
    const r = await api("/api/save", { method: "POST", body: { edits: S.edits, apply: mode }, headers: { "If-Match": S.base.etag } });
    S.edits = [];
    S.history = null;
    await preview();
    const a = r.applied;
    const d = $("#dialog");
    const msg = mode === "none"
      ? h("p.ok#save-ok", "Saved. The running server still uses the previous configuration; apply it from the Overview.")
      : a && a.ok
        ? h("p.ok#save-ok", `Saved and applied: generation ${a.generation} is serving (${mode} restart). ${a.message || ""}`)
        : h("div.bad#save-ok", h("p", `Saved, but the server did not apply it: ${a ? a.message : "no answer"}`), a && a.diagnostics.length ? h("ul", a.diagnostics.map((x) => h("li", x.text || x.message))) : null);
    d.replaceChildren(h("h2#dialog-title", "Saved"), h("div.dialog-body", msg), h("div.dialog-actions", h("button", { type: "button", class: "primary", onclick: closeDialog }, "Close")));
    $("button", d).focus();
    refreshRunning();
    pollStatus();
  } catch (e) {
    for (const b of $$("#dialog [data-mode]")) b.disabled = false;
    if (e.status === 412) {
      result.replaceChildren(h("div.bad", h("p", "Someone saved the file since you read it; nothing was written."),
        h("button", { type: "button", onclick: async () => { S.base.etag = e.body.etag; closeDialog(); await edit(); toast("Your changes are now applied over the new version: check them and save again."); } }, "Keep my changes on top of the new version"),
        " ", h("button", { type: "button", onclick: async () => { S.edits = []; closeDialog(); await edit(); } }, "Discard my changes")));
    } else if (e.status === 422) {
      S.diags = e.body.diagnostics || [];
      closeDialog();
      render();
      toast(`Not saved: ${e.message}`, "error");
    } else {
      result.replaceChildren(h("p.bad", `Not saved: ${e.message}`));
    }
  }
}
$("#save-open").addEventListener("click", openSave);

// ---------------------------------------------------------------- start

api("/api/session").then((r) => { S.csrf = r.csrf; return start(); }).catch(() => showLogin(""));

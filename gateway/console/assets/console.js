// copilot-proxy console: live refresh, SVG charts and the key forms. The
// pages read without it; it talks only to the admin API and the session API.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const meta = $('meta[name="csrf-token"]');
  const csrf = meta ? meta.content : "";
  const REFRESH_MS = 5000;

  // api calls the gateway with the session cookie; changes carry the CSRF
  // token. It resolves to the JSON answer or throws the error's message.
  async function api(method, path, body) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(path, opts);
    if (resp.status === 401) { location.assign("/console/login"); throw new Error("signed out"); }
    if (resp.status === 204) return null;
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error((data.error && data.error.message) || resp.status + " " + resp.statusText);
    return data;
  }

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  const svgNS = "http://www.w3.org/2000/svg";
  function sv(tag, attrs, text) {
    const e = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const int = (n) => Number(n || 0).toLocaleString("en-US");
  const cr = (n) => String(Number(n || 0));
  const when = (t) => (t ? new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "—");
  const limit = (n) => (n === null || n === undefined ? "default" : n === 0 ? "unlimited" : int(n));
  function live(msg) { const l = $("#live"); if (l) l.textContent = msg; }

  // poll runs fn now and every REFRESH_MS while the page is visible and the
  // user is not in the middle of something (an open dialog, a focused form).
  function poll(fn) {
    const tick = async () => {
      const busy = document.querySelector("dialog[open]") || (document.activeElement && document.activeElement.closest("form, tbody"));
      if (!document.hidden && !busy) {
        try { await fn(); live("Updated " + new Date().toLocaleTimeString() + "."); } catch (e) { live("Refresh failed: " + e.message); }
      }
      setTimeout(tick, REFRESH_MS);
    };
    setTimeout(tick, REFRESH_MS);
  }

  // ---- usage aggregation and charts ----
  function groupRows(rows, key) {
    const m = new Map();
    for (const r of rows) {
      const k = key(r);
      const t = m.get(k) || { name: k, requests: 0, prompt: 0, completion: 0, credits: 0, errors: 0 };
      t.requests += r.requests; t.prompt += r.prompt_tokens; t.completion += r.completion_tokens;
      t.credits += r.credits_nano / 1e9; t.errors += r.errors;
      m.set(k, t);
    }
    return [...m.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  const METRICS = [
    ["Requests", (r) => r.requests],
    ["Tokens", (r) => r.prompt_tokens + r.completion_tokens],
    ["Credits", (r) => r.credits_nano / 1e9],
    ["Errors", (r) => r.errors],
  ];
  const COLORS = ["#0b57d0", "#e8710a", "#1a7f37", "#a142f4", "#d01884", "#007b83", "#b3261e", "#5f6368"];

  function days(since, count) {
    const out = [], d = new Date(since + "T00:00:00Z");
    for (let i = 0; i < count; i++) { out.push(d.toISOString().slice(0, 10)); d.setUTCDate(d.getUTCDate() + 1); }
    return out;
  }

  // barChart draws stacked bars: one per label (a day), one colour per
  // series (a key or a model), as an accessible SVG with a legend.
  function barChart(title, labels, series) {
    const W = 360, H = 170, L = 40, B = 22, T = 8;
    const totals = labels.map((_, i) => series.reduce((s, x) => s + x.values[i], 0));
    const max = Math.max(1, ...totals);
    const fig = el("figure");
    const sum = totals.reduce((a, b) => a + b, 0);
    fig.append(el("figcaption", {}, title));
    const svg = sv("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}: ${+sum.toFixed(4)} in total over ${labels.length} day(s)` });
    svg.append(sv("line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" }));
    svg.append(sv("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, fmtShort(max)));
    svg.append(sv("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0"));
    const bw = (W - L) / labels.length;
    labels.forEach((lab, i) => {
      let y = H - B;
      series.forEach((s, j) => {
        const v = s.values[i];
        if (!v) return;
        const h = (v / max) * (H - B - T);
        y -= h;
        const r = sv("rect", { x: L + i * bw + bw * 0.15, y, width: Math.max(1, bw * 0.7), height: Math.max(h, 0.5), fill: COLORS[j % COLORS.length] });
        r.append(sv("title", {}, `${s.name} · ${lab}: ${+v.toFixed(4)}`));
        svg.append(r);
      });
      if (labels.length <= 8 || i % Math.ceil(labels.length / 6) === 0) {
        svg.append(sv("text", { x: L + i * bw + bw / 2, y: H - 6, "text-anchor": "middle" }, lab.slice(5)));
      }
    });
    fig.append(svg);
    const legend = el("ul", { class: "legend" });
    series.forEach((s, j) => {
      const sw = sv("svg", { viewBox: "0 0 10 10", "aria-hidden": "true" });
      sw.append(sv("rect", { width: 10, height: 10, fill: COLORS[j % COLORS.length] }));
      const li = el("li", {}); li.append(sw, s.name); legend.append(li);
    });
    fig.append(legend);
    return fig;
  }
  function fmtShort(n) { return n >= 1e6 ? +(n / 1e6).toFixed(1) + "M" : n >= 1e3 ? +(n / 1e3).toFixed(1) + "k" : String(+n.toFixed(2)); }

  function drawCharts(box, rows, labels, by) {
    const names = [...new Set(rows.map(by))].sort();
    box.replaceChildren(...METRICS.map(([title, f]) => {
      const series = names.map((n) => ({ name: n, values: labels.map((d) => rows.filter((r) => by(r) === n && r.day === d).reduce((s, r) => s + f(r), 0)) }));
      return barChart(title, labels, series);
    }));
  }

  function fillTotals(tbody, groups, empty) {
    if (!groups.length) { tbody.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, empty))); return; }
    tbody.replaceChildren(...groups.map((g) => el("tr", {}, el("th", { scope: "row" }, g.name), el("td", {}, int(g.requests)),
      el("td", {}, int(g.prompt)), el("td", {}, int(g.completion)), el("td", {}, +g.credits.toFixed(9)), el("td", {}, int(g.errors)))));
  }
  function summary(p, label, rows) {
    const t = groupRows(rows, () => "all")[0] || { requests: 0, prompt: 0, completion: 0, credits: 0, errors: 0 };
    p.replaceChildren(label, el("strong", {}, int(t.requests)), " requests, ", el("strong", {}, int(t.prompt + t.completion)), " tokens, ",
      el("strong", {}, +t.credits.toFixed(9)), " credits, ", el("strong", {}, int(t.errors)), " errors.");
  }

  // ---- pages ----
  async function usagePage() {
    const box = $("#usage");
    const since = box.dataset.since, by = box.dataset.by;
    const count = { day: 1, week: 7, month: 30 }[box.dataset.range] || 7;
    const key = by === "model" ? (r) => r.model : (r) => r.key_name;
    const load = async () => {
      const rows = await api("GET", "/admin/usage?since=" + encodeURIComponent(since));
      const start = new Date(Date.now() - (count - 1) * 86400000).toISOString().slice(0, 10);
      drawCharts($("#charts"), rows, days(start, count), key);
      fillTotals($("#groups-table tbody"), groupRows(rows, key), "No usage in this range.");
      fillTotals($("#days-table tbody"), groupRows(rows, (r) => r.day), "No usage in this range.");
      const label = $("#usage-summary").firstChild.textContent;
      summary($("#usage-summary"), label, rows);
    };
    await load();
    poll(load);
  }

  async function mePage() {
    const load = async () => {
      const me = await api("GET", "/console/api/me");
      drawCharts($("#charts"), me.usage, days(me.since, 30), (r) => r.model);
      fillTotals($("#models-table tbody"), groupRows(me.usage, (r) => r.model), "No usage yet.");
      summary($("#me-summary"), "", me.usage);
    };
    await load();
    poll(load);
  }

  async function accountPage() {
    poll(async () => {
      const a = await api("GET", "/admin/account");
      const badge = (ok, yes, no) => el("span", { class: "badge " + (ok ? "active" : "revoked") }, ok ? yes : no);
      $("#ready").replaceChildren(badge(a.ready, "ready", "not ready"));
      const tok = (a.conditions || []).find((c) => c.name === "copilot_token");
      if (tok && $("#token")) $("#token").replaceChildren(badge(tok.ok, "valid", "missing"), " ", tok.ok ? "until " + when(tok.expires_at) : tok.reason || "");
      $("#cond-table tbody").replaceChildren(...(a.conditions || []).map((c) => el("tr", {}, el("th", { scope: "row" }, c.name),
        el("td", {}, badge(c.ok, "ok", "failing")), el("td", {}, c.reason || (c.expires_at ? "expires " + when(c.expires_at) : "—")))));
    });
  }

  // ---- keys page ----
  function keyStatus(k) {
    if (k.revoked_at) return "revoked";
    if (k.expires_at && new Date(k.expires_at) <= new Date()) return "expired";
    return "active";
  }
  function keyRow(k) {
    const st = keyStatus(k);
    const spent = el("td", {}, cr(k.period_credits));
    if (k.budget_credits !== null && k.budget_credits !== undefined) {
      const pct = k.budget_credits > 0 ? Math.min(100, Math.floor((k.period_credits * 100) / k.budget_credits)) : k.period_credits > 0 ? 100 : 0;
      spent.append(" ", el("meter", { min: 0, max: 100, low: 75, high: 90, optimum: 0, value: pct }, pct + "%"));
    }
    spent.append(el("br"), el("small", {}, "since " + String(k.period_start).slice(0, 10)));
    const actions = el("td", { class: "actions" });
    if (st === "active") {
      actions.append(el("button", { type: "button", "data-act": "edit" }, "Edit"), " ",
        el("button", { type: "button", "data-act": "rotate" }, "Rotate"), " ",
        el("button", { type: "button", "data-act": "revoke", class: "danger" }, "Revoke"));
    }
    const name = el("th", { scope: "row" }, k.name, el("br"), el("small", {}, k.id + " · " + k.hint));
    return el("tr", { "data-id": k.id, "data-name": k.name }, name, el("td", {}, el("span", { class: "badge " + st }, st)),
      el("td", {}, `${limit(k.rpm)} / ${limit(k.tpm)} / ${limit(k.concurrency)}`),
      el("td", {}, k.models && k.models.length ? k.models.join(", ") : "all"),
      el("td", {}, k.budget_credits === null || k.budget_credits === undefined ? "none" : `${k.budget_credits} / ${k.budget_period}`),
      spent, el("td", {}, int(k.requests)), el("td", {}, when(k.last_used)), el("td", {}, when(k.expires_at)), actions);
  }

  function formBody(form, clearing) {
    const body = {};
    const num = (v) => (v === "" ? null : Number(v));
    for (const f of ["rpm", "tpm", "concurrency"]) if (form[f]) body[f] = num(form[f].value.trim());
    if (form.models) { const ms = form.models.value.split(",").map((s) => s.trim()).filter(Boolean); body.models = ms.length ? ms : null; }
    if (form.budget_credits) body.budget_credits = num(form.budget_credits.value.trim());
    if (form.budget_period) body.budget_period = body.budget_credits === null || form.budget_period.value === "" ? null : form.budget_period.value;
    if (!clearing) { // create: leave unset fields out
      for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
      if (form.expires.value.trim()) body.expires = form.expires.value.trim();
      body.name = form.name.value.trim();
    } else {
      const exp = form.expires_at.value.trim();
      if (/^\d+[smhdw]$|^\d{4}-\d\d-\d\d$/.test(exp)) body.expires = exp; else body.expires_at = exp === "" ? null : exp;
    }
    return body;
  }

  function showSecret(created) {
    const box = $("#secret");
    $("#secret-name").textContent = created.name;
    $("#secret-value").textContent = created.key;
    $("#copied").textContent = "";
    box.hidden = false;
    box.focus();
  }
  function hideSecret() { $("#secret-value").textContent = ""; $("#secret").hidden = true; }

  function errorIn(scope, msg) { const p = $(".error", scope) || $("#form-error"); p.textContent = msg; p.hidden = !msg; }

  async function keysPage() {
    let list = [];
    const tbody = $("#keys-table tbody");
    const load = async () => {
      list = await api("GET", "/admin/keys");
      if (!list.length) tbody.replaceChildren(el("tr", {}, el("td", { colspan: 10 }, "No keys yet.")));
      else tbody.replaceChildren(...list.map(keyRow));
    };
    document.querySelectorAll(".actions button[hidden]").forEach((b) => (b.hidden = false));
    $("#create-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.target;
      errorIn(document, "");
      try {
        const created = await api("POST", "/admin/keys", formBody(form, false));
        form.reset();
        showSecret(created);
        await load();
      } catch (e) { errorIn(document, e.message); }
    });
    $("#copy").addEventListener("click", async () => {
      try { await navigator.clipboard.writeText($("#secret-value").textContent); $("#copied").textContent = "Copied."; }
      catch (e) { const r = document.createRange(); r.selectNodeContents($("#secret-value")); getSelection().removeAllRanges(); getSelection().addRange(r); $("#copied").textContent = "Selected: press Ctrl+C."; }
    });
    $("#secret-done").addEventListener("click", hideSecret);
    tbody.addEventListener("click", (ev) => {
      const b = ev.target.closest("button[data-act]");
      if (!b) return;
      const tr = b.closest("tr");
      const k = list.find((x) => x.id === tr.dataset.id) || { id: tr.dataset.id, name: tr.dataset.name };
      openDialog(b.dataset.act, k, load, b);
    });
    await load().catch((e) => live("Refresh failed: " + e.message));
    poll(load);
  }

  // openDialog runs the edit, rotate or revoke dialog for key k.
  function openDialog(act, k, reload, opener) {
    const dlg = $("#" + act + "-dialog");
    const form = $("form", dlg);
    $(".which", dlg).textContent = k.name;
    errorIn(dlg, "");
    if (act === "edit") {
      for (const f of ["rpm", "tpm", "concurrency"]) form[f].value = k[f] === null || k[f] === undefined ? "" : k[f];
      form.models.value = (k.models || []).join(", ");
      form.budget_credits.value = k.budget_credits === null || k.budget_credits === undefined ? "" : k.budget_credits;
      form.budget_period.value = k.budget_period || "";
      form.expires_at.value = k.expires_at || "";
    }
    const close = () => { dlg.close(); opener.focus && document.contains(opener) && opener.focus(); };
    $(".cancel", dlg).onclick = close;
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      const id = encodeURIComponent(k.id);
      try {
        if (act === "edit") await api("PATCH", "/admin/keys/" + id, formBody(form, true));
        if (act === "revoke") await api("POST", "/admin/keys/" + id + "/revoke");
        if (act === "rotate") showSecret(await api("POST", "/admin/keys/" + id + "/rotate", { grace: form.grace.value.trim() || "24h" }));
        dlg.close();
        await reload();
        live(k.name + ": " + (act === "edit" ? "updated" : act === "revoke" ? "revoked" : "rotated") + ".");
      } catch (e) { errorIn(dlg, e.message); }
    };
    dlg.showModal();
  }

  function copyButtons() {
    document.querySelectorAll("button.copy[data-copy]").forEach((b) => {
      b.hidden = false;
      b.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText($("#" + b.dataset.copy).textContent); b.textContent = "Copied"; }
        catch (e) { b.textContent = "Select and copy"; }
        setTimeout(() => (b.textContent = "Copy"), 2000);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("fieldset.needs-js").forEach((f) => (f.disabled = false));
    copyButtons();
    const page = document.querySelector("main").dataset.page;
    const run = { keys: keysPage, usage: usagePage, account: accountPage, me: mePage }[page];
    if (run) run().catch((e) => live("Could not load live data: " + e.message));
  });
})();

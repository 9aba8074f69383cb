// sluice live page: polls api/stats and fills in the figures of the graph
// drawn by the server; looks up table values through api/lookup.
"use strict";

const interval = Number(document.body.dataset.interval) || 1000;
const statusEl = document.getElementById("status");

function fmtCount(n) {
  return Number(n).toLocaleString("en-US");
}

function fmtRate(r) {
  if (r >= 100) return fmtCount(Math.round(r));
  return r.toFixed(1);
}

function fmtAge(ms) {
  if (ms < 0) return "?";
  if (ms === 0) return "0s";
  if (ms < 1000) return ms + "ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + "s";
  const s = Math.round(ms / 1000);
  return Math.floor(s / 60) + "m" + (s % 60) + "s";
}

function setField(group, field, text, cls) {
  const el = group.querySelector('[data-field="' + field + '"]');
  if (!el) return;
  el.textContent = text;
  el.classList.remove("warn", "bad");
  if (cls) el.classList.add(cls);
}

function renderAgents(agents) {
  for (const g of document.querySelectorAll("g.node.agent")) {
    const a = agents[g.dataset.agent];
    if (!a) continue;
    g.classList.toggle("stopped", !a.running);
    setField(g, "rate", fmtRate(a.rate) + " rec/s" + (a.running ? "" : " (stopped)"));
    setField(g, "lag", "lag " + fmtCount(a.lag) + " · " + fmtAge(a.age_ms), a.lag > 0 ? "warn" : "");
    setField(g, "dlq", "dead letters " + fmtCount(a.dead_letters), a.dead_letters > 0 ? "bad" : "");
  }
}

function renderTopics(topics) {
  for (const g of document.querySelectorAll("g.node.topic")) {
    const n = topics[g.dataset.topic];
    if (n === undefined) continue;
    setField(g, "records", fmtCount(n) + (n === 1 ? " record" : " records"));
  }
}

function renderLag(rows) {
  const body = document.querySelector("#lag tbody");
  const frag = document.createDocumentFragment();
  for (const r of rows || []) {
    const tr = document.createElement("tr");
    const ageMs = r.age < 0 ? -1 : Math.round(r.age / 1e6);
    const cells = [r.group, r.topic, r.partition, r.committed < 0 ? "–" : fmtCount(r.committed),
      fmtCount(r.end), r.lag < 0 ? "–" : fmtCount(r.lag), r.lag > 0 ? fmtAge(ageMs) : "0s"];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = String(c);
      if (i >= 5 && r.lag > 0) td.className = "lagging";
      tr.appendChild(td);
    });
    frag.appendChild(tr);
  }
  body.replaceChildren(frag);
}

async function refresh() {
  try {
    const resp = await fetch("api/stats", { cache: "no-store" });
    const s = await resp.json();
    if (s.state === "ok") {
      renderAgents(s.agents);
      renderTopics(s.topics);
      renderLag(s.lag);
      statusEl.textContent = "updated " + new Date(s.at).toLocaleTimeString();
      statusEl.classList.remove("error");
    } else {
      statusEl.textContent = s.state + (s.error ? ": " + s.error : "");
      statusEl.classList.toggle("error", s.state === "error");
    }
  } catch (e) {
    statusEl.textContent = "cannot reach the server: " + e.message;
    statusEl.classList.add("error");
  }
  setTimeout(refresh, interval);
}

const form = document.getElementById("lookup");
if (form) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = document.getElementById("lookup-result");
    const table = document.getElementById("lookup-table").value;
    const key = document.getElementById("lookup-key").value;
    out.className = "result";
    out.textContent = "looking up…";
    try {
      const q = new URLSearchParams({ table, key });
      const resp = await fetch("api/lookup?" + q, { cache: "no-store" });
      const body = await resp.json();
      if (resp.ok) {
        out.textContent = JSON.stringify(body.value, null, 2);
        out.dataset.state = "found";
      } else if (resp.status === 404) {
        out.className = "result missing";
        out.textContent = "no value for key " + JSON.stringify(key) + " in " + table;
        out.dataset.state = "missing";
      } else {
        out.className = "result error";
        out.textContent = body.error || resp.statusText;
        out.dataset.state = "error";
      }
    } catch (e) {
      out.className = "result error";
      out.textContent = "cannot reach the server: " + e.message;
      out.dataset.state = "error";
    }
  });
}

refresh();

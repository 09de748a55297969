// slaflow web UI: render the figures the server built, and keep a live run page up to date.
(function () {
  "use strict";
  const CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]};

  function renderFigures(root) {
    root.querySelectorAll("[data-figure]").forEach(function (div) {
      const src = document.getElementById(div.dataset.figure);
      if (!src) return;
      const fig = JSON.parse(src.textContent);
      Plotly.newPlot(div, fig.data, fig.layout, CONFIG);
    });
  }

  function dagNodeTrace(gd) {
    if (!gd || !gd.data) return -1;
    return gd.data.findIndex(function (t) { return t.meta === "nodes"; });
  }

  function applyLive(live) {
    document.querySelectorAll("[data-live-status]").forEach(function (el) {
      el.textContent = live.status;
      el.className = "badge status-" + live.status;
    });
    const done = live.counts.succeeded || 0, total = Object.keys(live.states).length;
    document.querySelectorAll("[data-live-progress]").forEach(function (el) {
      el.textContent = done + " / " + total + " tasks done" + (live.counts.running ? ", " + live.counts.running + " running" : "");
    });
    const gd = document.getElementById("fig-dag");
    const idx = dagNodeTrace(gd);
    if (idx < 0) return;
    const menus = gd.layout.updatemenus || [];
    if (menus.length && menus[0].active !== 0) return;  // the user chose another colouring
    const colors = gd.data[idx].customdata.map(function (id) { return live.colors[id] || "#d0d4da"; });
    Plotly.restyle(gd, {"marker.color": [colors]}, [idx]);
  }

  function startLive() {
    const body = document.getElementById("run-body");
    if (!body || body.dataset.finished === "true") return;
    let version = body.dataset.version, busy = false, lastBody = 0, timer = null;
    async function refreshBody(live) {
      const resp = await fetch(body.dataset.bodyUrl, {credentials: "same-origin"});
      if (!resp.ok || resp.redirected) return;  // e.g. logged out meanwhile: keep what is shown
      const html = await resp.text();
      body.querySelectorAll(".js-plotly-plot").forEach(function (el) { Plotly.purge(el); });
      body.innerHTML = html;
      version = live.version;
      lastBody = Date.now();
      renderFigures(body);
    }
    async function tick() {
      if (busy) return;
      busy = true;
      try {
        const resp = await fetch(body.dataset.liveUrl, {credentials: "same-origin", headers: {Accept: "application/json"}});
        if (!resp.ok) return;
        if (resp.redirected) { clearInterval(timer); return; }
        const live = await resp.json();
        // New metrics arrive when branches end: redraw the panels (at most every 1.5 s) until the end.
        if (live.version !== version && (live.finished || Date.now() - lastBody > 1500)) {
          await refreshBody(live);
        }
        applyLive(live);
        if (live.finished && live.version === version) {
          clearInterval(timer);
          body.dataset.finished = "true";
        }
      } catch (err) {
        console.warn("live update failed", err);
      } finally {
        busy = false;
      }
    }
    timer = setInterval(tick, 1000);
    tick();
  }

  function launchDefaults() {
    const sel = document.getElementById("id_workflow"), params = document.getElementById("id_params");
    const src = document.getElementById("library-defaults");
    if (!sel || !params || !src) return;
    const defaults = JSON.parse(src.textContent);
    let last = defaults[sel.value] || "";
    if (!params.value) params.value = last;
    sel.addEventListener("change", function () {
      if (!params.value || params.value === last) params.value = defaults[sel.value] || "";
      last = defaults[sel.value] || "";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (window.Plotly) renderFigures(document);
    startLive();
    launchDefaults();
  });
})();

// customsflow dashboard: series from /api/dashboard drawn with Chart.js
// (Debian's libjs-chart.js, served by the console: no CDN).
"use strict";
(function () {
  const params = new URLSearchParams(window.location.search);
  // auto: days, or hours when the statistics span less than three days
  let bucket = params.get("bucket") || "day";
  const palette = ["#1f5fa8", "#d9534f", "#5cb85c", "#f0ad4e", "#7e57c2", "#26a69a",
                   "#8d6e63", "#ec407a", "#78909c", "#c0ca33", "#29b6f6", "#ff7043"];
  const status = document.getElementById("dash-status");

  async function series(kind, extra) {
    const q = new URLSearchParams(Object.assign({ kind, bucket }, extra || {}));
    const r = await fetch("/api/dashboard?" + q.toString(), { credentials: "same-origin" });
    if (!r.ok) throw new Error(kind + ": HTTP " + r.status);
    return (await r.json()).points;
  }

  // points {key, series, value} -> labels and one dataset per series (top n, the rest "other")
  function pivot(points, n) {
    const labels = [...new Set(points.map((p) => p.key))].sort();
    const total = new Map();
    for (const p of points) total.set(p.series, (total.get(p.series) || 0) + p.value);
    const top = [...total.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map((e) => e[0]);
    const names = total.size > n ? top.concat(["other"]) : top;
    const data = new Map(names.map((s) => [s, new Map()]));
    for (const p of points) {
      const s = top.includes(p.series) ? p.series : "other";
      const m = data.get(s);
      m.set(p.key, (m.get(p.key) || 0) + p.value);
    }
    return {
      labels,
      datasets: names.map((s, i) => ({
        label: s, data: labels.map((l) => data.get(s).get(l) || 0),
        borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length],
      })),
    };
  }

  function draw(id, type, data, stacked) {
    const scales = stacked ? { x: { stacked: true }, y: { stacked: true } } : {};
    return new Chart(document.getElementById(id), {
      type, data, options: { animation: false, responsive: true, maintainAspectRatio: false, scales },
    });
  }

  async function main() {
    let chapter = params.get("chapter");
    if (!chapter) {
      const ch = await series("chapters");
      chapter = ch.length ? ch[0].key : "";
      document.getElementById("chapter").value = chapter;
    }
    if (!params.get("bucket")) {
      const days = new Set((await series("quality")).map((p) => p.key));
      if (days.size < 3) bucket = "hour";
    }
    document.getElementById("origin-caption").textContent =
      "Value by origin (USD), HS chapter " + chapter;
    draw("chart-origin", "line", pivot(await series("origin_value", { chapter }), 8), false);
    draw("chart-rules", "bar", pivot(await series("rule_flags"), 12), true);
    const top = await series("top_exporters");
    draw("chart-exporters", "bar", {
      labels: top.map((p) => p.key),
      datasets: [{ label: "value (USD)", data: top.map((p) => p.value), backgroundColor: palette[0] }],
    }, false);
    draw("chart-quality", "bar", pivot(await series("quality"), 2), false);
    status.textContent = "Charts drawn from the stats topic.";
    document.body.dataset.charts = "ready";
  }
  main().catch((e) => { status.textContent = "Cannot draw the charts: " + e.message; });
})();

// The dashboard's small script: draws the Plotly figures embedded in each page, switches the theme, and turns a
// click on a metric's point into the drill-down URL (the URL holds the view, so the drill-down can be shared).
(function () {
  "use strict";

  function themeColors() {
    const style = getComputedStyle(document.documentElement);
    return {
      text: style.getPropertyValue("--text").trim(),
      grid: style.getPropertyValue("--grid").trim(),
      accent: style.getPropertyValue("--accent").trim(),
    };
  }

  function layoutFor(layout, small) {
    const c = themeColors();
    const base = {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: c.text, size: small ? 9 : 12 },
      colorway: [c.accent, "#9b7bff", "#35c9a5", "#ffb347", "#ff6f91", "#7fd1ff", "#c5e86c"],
      margin: small ? { l: 0, r: 0, t: 0, b: 0 } : { l: 60, r: 60, t: 20, b: 50 },
      legend: { orientation: "h", y: -0.2 },
      showlegend: !small,
    };
    const merged = Object.assign({}, base, layout || {});
    ["xaxis", "yaxis", "yaxis2"].forEach(function (axis) {
      if (merged[axis] || axis !== "yaxis2") {
        merged[axis] = Object.assign({ gridcolor: c.grid, zerolinecolor: c.grid }, merged[axis] || {});
        if (small) { merged[axis].visible = false; }
      }
    });
    return merged;
  }

  function drillTo(point) {
    const url = new URL(window.location.href);
    url.searchParams.set("date", String(point.x).slice(0, 10));
    url.hash = "drill";
    window.location.assign(url.toString());
  }

  function draw() {
    if (!window.Plotly) { return; }
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      const source = document.getElementById(el.dataset.figure);
      if (!source) { return; }
      const figure = JSON.parse(source.textContent);
      const small = el.classList.contains("spark");
      window.Plotly.react(el, figure.data, layoutFor(figure.layout, small),
        { responsive: true, displaylogo: false, staticPlot: small });
      if (el.id === "metric-chart" && !el.dataset.bound) {
        el.dataset.bound = "1";
        el.on("plotly_click", function (event) { if (event.points.length) { drillTo(event.points[0]); } });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
        document.documentElement.dataset.theme = next;
        localStorage.setItem("hitcraft-theme", next);
        draw();
      });
    }
    draw();
    document.body.dataset.ready = "1";  // the figures are drawn (browser tests wait for this)
  });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      if (window.Plotly && el.data) { window.Plotly.Plots.resize(el); }
    });
  });
})();

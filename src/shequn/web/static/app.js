// The console's small scripts: charts from JSON blocks, confirmations. No inline scripts (CSP), no CDN.
"use strict";
(function () {
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  function trend() {
    var el = document.getElementById("trend-chart"), d = data("trend-data");
    if (!el || !d || !window.echarts) return;
    var chart = window.echarts.init(el);
    var keys = ["message", "join", "leave"];
    chart.setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0, data: keys.map(function (k) { return d.names[k]; }) },
      grid: { left: 48, right: 48, top: 48, bottom: 28 },
      xAxis: { type: "category", data: d.days },
      yAxis: [{ type: "value", name: d.names.message }, { type: "value", name: d.names.join }],
      series: keys.map(function (k) {
        return { name: d.names[k], type: k === "message" ? "bar" : "line", yAxisIndex: k === "message" ? 0 : 1, data: d.series[k] };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function segmentForm() {
    var action = document.getElementById("segment-action");
    if (!action) return;
    var show = function () {
      var a = action.value;
      document.getElementById("segment-value").hidden = !(a === "tag" || a === "untag");
      document.getElementById("segment-text").hidden = !(a === "message" || a === "invite");
      document.getElementById("segment-group").hidden = a !== "invite";
    };
    action.addEventListener("change", show);
    show();
  }
  function dropZone() {
    var zone = document.getElementById("drop"), input = document.getElementById("import-file");
    if (!zone || !input) return;
    ["dragenter", "dragover"].forEach(function (n) {
      zone.addEventListener(n, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (n) {
      zone.addEventListener(n, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { trend(); segmentForm(); dropZone(); });
})();

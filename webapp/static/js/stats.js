// The statistics page's charts, drawn with Apache ECharts (vendored, no CDN) from the figures
// the page embeds as JSON. Each chart is a picture of the table beside it, which stays the
// accessible truth; without scripts the tables alone are shown.
(function () {
  "use strict";

  function draw(id, option) {
    var node = document.getElementById(id);
    if (!node || !window.echarts) { return null; }
    var chart = window.echarts.init(node, null, { renderer: "svg" });
    option.animation = false;
    option.grid = option.grid || { left: 48, right: 16, top: 36, bottom: 48, containLabel: true };
    chart.setOption(option);
    return chart;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("stats-data");
    if (!source) { return; }
    var data = JSON.parse(source.textContent);
    var labels = data.labels;
    var charts = [
      draw("chart-trend", {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        xAxis: { type: "category", data: data.weeks },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: labels.reported, type: "line", data: data.reported },
          { name: labels.settled, type: "line", data: data.settled }
        ]
      }),
      draw("chart-recovered", {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        xAxis: { type: "category", data: data.weeks },
        yAxis: { type: "value" },
        series: [{ name: labels.recovered, type: "bar", data: data.recovered }]
      }),
      draw("chart-stages", {
        tooltip: { trigger: "item" },
        series: [{
          type: "funnel",
          sort: "descending",
          left: "5%", width: "90%", top: 10, bottom: 10,
          label: { show: true, position: "inside" },
          data: data.stages.map(function (s) { return { name: s[0], value: s[1] }; })
        }]
      }),
      draw("chart-overdue", {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        xAxis: { type: "value", minInterval: 1 },
        // long unit names are cut short on the axis (the table beside gives them whole)
        yAxis: { type: "category", data: data.overdue_units, axisLabel: { width: 110, overflow: "truncate" } },
        series: [
          { name: labels.open_overdue, type: "bar", data: data.overdue_open },
          { name: labels.completed_late, type: "bar", data: data.overdue_late }
        ]
      })
    ];
    window.addEventListener("resize", function () {
      charts.forEach(function (c) { if (c) { c.resize(); } });
    });
  });
}());

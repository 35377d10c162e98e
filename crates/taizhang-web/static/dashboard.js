// Draws the dashboard's charts from the figures embedded in the page (the tables beside them carry the same
// numbers and links, so the page works without this file). Clicking a bar or point opens the cases behind it.
(function () {
  "use strict";
  var el = document.getElementById("dashboard-data");
  if (!el || typeof echarts === "undefined") { return; }
  var d = JSON.parse(el.textContent);
  // `target(p)` gives the list query of the cases behind the clicked bar or point (or a whole address).
  function chart(id, option, target) {
    var node = document.getElementById(id);
    if (!node) { return; }
    var c = echarts.init(node);
    c.setOption(option);
    c.on("click", function (p) {
      var t = target(p);
      if (t) { window.location.href = t.charAt(0) === "/" ? t : "/cases?" + t; }
    });
    window.addEventListener("resize", function () { c.resize(); });
  }
  var months = d.months.map(function (m) { return m.month; });
  chart("chart-months", {
    tooltip: { trigger: "axis" },
    legend: { data: ["受理", "办结"] },
    xAxis: { type: "category", data: months },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "受理", type: "bar", data: d.months.map(function (m) { return m.received; }) },
      { name: "办结", type: "line", data: d.months.map(function (m) { return m.closed; }) }
    ]
  }, function (p) {
    var m = d.months[p.dataIndex];
    return p.seriesIndex === 0 ? m.received_query : m.closed_query;
  });
  var clocks = d.clocks.slice(0, 15);
  chart("chart-clocks", {
    tooltip: { trigger: "axis" },
    legend: { data: ["超期", "临期", "在办"] },
    xAxis: { type: "category", data: clocks.map(function (c) { return c.unit.name; }), axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "超期", type: "bar", itemStyle: { color: "#b3261e" }, data: clocks.map(function (c) { return c.overdue; }) },
      { name: "临期", type: "bar", itemStyle: { color: "#b26a00" }, data: clocks.map(function (c) { return c.due_soon; }) },
      { name: "在办", type: "bar", itemStyle: { color: "#5470c6" }, data: clocks.map(function (c) { return c.open; }) }
    ]
  }, function (p) {
    var c = clocks[p.dataIndex];
    return [c.overdue_query, c.due_soon_query, c.open_query][p.seriesIndex];
  });
  chart("chart-hot", {
    tooltip: { trigger: "axis" },
    legend: { data: ["本月", "上月"] },
    xAxis: { type: "category", data: d.hot.map(function (h) { return h.category; }), axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "本月", type: "bar", data: d.hot.map(function (h) { return h.this_month; }) },
      { name: "上月", type: "bar", data: d.hot.map(function (h) { return h.last_month; }) }
    ]
  }, function (p) { return p.seriesIndex === 0 ? d.hot[p.dataIndex].query : null; });
  if (d.ranking) {
    // Vetoed units rank last whatever their total: they are left out of the bars (the table lists them).
    var rows = d.ranking.rows.filter(function (r) { return r.total !== null && !r.vetoed; });
    chart("chart-ranking", {
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: rows.map(function (r) { return r.unit.name; }), axisLabel: { interval: 0, rotate: 30 } },
      yAxis: { type: "value", max: 100 },
      series: [{ name: "总分", type: "bar", data: rows.map(function (r) { return r.total; }) }]
    }, function () { return "/circulars/" + d.ranking.circular_id; });
  }
})();

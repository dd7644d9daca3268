// The home dashboard's two charts (Chart.js, vendored): the 12-week at-risk trend and
// bookings by day part. Data comes from the page (json_script), the same figures as the API.
(function () {
  "use strict";
  function draw() {
    var node = document.getElementById("dashboard-chart-data");
    if (!node || typeof Chart === "undefined") return;
    var data = JSON.parse(node.textContent);
    var trend = document.getElementById("db-trend");
    if (trend && data.labels.length) {
      new Chart(trend, {
        type: "line",
        data: { labels: data.labels, datasets: [
          { label: "Churn risk High or Critical", data: data.risk, borderColor: "#c0392b", tension: 0.2 },
          { label: "Paying but not playing", data: data.pnp, borderColor: "#2471a3", tension: 0.2 },
        ] },
        options: { animation: false, plugins: { legend: { position: "bottom" } },
                   scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    }
    var parts = document.getElementById("db-dayparts");
    if (parts && data.dayParts.labels.length) {
      new Chart(parts, {
        type: "bar",
        data: { labels: data.dayParts.labels,
                datasets: [{ label: "Bookings", data: data.dayParts.values, backgroundColor: "#417690" }] },
        options: { animation: false, plugins: { legend: { display: false } },
                   scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();

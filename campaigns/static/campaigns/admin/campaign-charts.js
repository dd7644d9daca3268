// The campaign page's three charts, drawn with Chart.js from the json_script the admin renders.
(function () {
  'use strict';

  function draw() {
    var source = document.getElementById('campaign-charts-data');
    if (!source || typeof Chart === 'undefined') return;
    var data = JSON.parse(source.textContent);
    // A fresh options object per chart: Chart.js keeps (and resolves into) the one it is given.
    function options(extra) {
      return Object.assign(
        { responsive: true, animation: false, plugins: { legend: { display: false } } },
        extra || {}
      );
    }

    new Chart(document.getElementById('chart-series'), {
      type: 'line',
      data: {
        labels: data.series.map(function (p) { return p.hour.slice(0, 16).replace('T', ' '); }),
        datasets: [{ label: 'Sent', data: data.series.map(function (p) { return p.sent; }),
                     borderColor: '#417690', backgroundColor: '#41769033', fill: true }],
      },
      options: options({ scales: { y: { beginAtZero: true } } }),
    });

    new Chart(document.getElementById('chart-funnel'), {
      type: 'bar',
      data: { labels: data.funnel.labels,
              datasets: [{ label: 'Messages', data: data.funnel.values, backgroundColor: '#79aec8' }] },
      options: options({ indexAxis: 'y' }),
    });

    var rates = ['open', 'click', 'conversion'];
    var colours = { open: '#417690', click: '#79aec8', conversion: '#f5dd5d' };
    new Chart(document.getElementById('chart-variants'), {
      type: 'bar',
      data: {
        labels: data.variants.map(function (v) { return v.variant; }),
        datasets: rates.map(function (rate) {
          return { label: rate + ' rate', backgroundColor: colours[rate],
                   data: data.variants.map(function (v) { return v[rate]; }) };
        }),
      },
      options: options({ plugins: { legend: { display: true } } }),
    });
    document.documentElement.dataset.campaignCharts = 'drawn';
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', draw);
  else draw();
})();

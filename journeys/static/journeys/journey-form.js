/*
 * The journey change page: puts the builder on the page, keeps it in step with the JSON box
 * (the form field `definition`, which is what is submitted), has the server check the draft
 * as it is edited (POST <admin>/journeys/journey/validate/, definition_parse) and shows what it
 * finds on the cards and fields at fault, asks before the buttons that cannot be undone, and
 * draws the per-step chart.
 */
(function () {
  "use strict";

  const CHECK_DELAY_MS = 400;
  const JSON_DELAY_MS = 400;

  function start() {
    const configNode = document.getElementById("journey-builder-config");
    const mount = document.getElementById("journey-builder");
    if (!configNode || !mount || !window.JourneyBuilder) return;
    const config = JSON.parse(configNode.textContent);
    const textarea = document.getElementById("id_definition");
    const jsonStatus = document.getElementById("journey-json-status");
    const checkStatus = document.getElementById("journey-check-status");
    const csrfInput = document.querySelector("input[name=csrfmiddlewaretoken]");
    const csrfToken = csrfInput ? csrfInput.value : "";
    let dirty = false;

    const setStatus = (node, text, bad) => {
      if (!node) return;
      node.textContent = text;
      node.classList.toggle("jr-bad", Boolean(bad));
    };

    const checker = new Checker(config.validateUrl, csrfToken, (errors, failure) => {
      if (failure) {
        setStatus(checkStatus, failure, true);
        return;
      }
      builder.showErrors(errors);
      const count = Object.keys(errors).length;
      setStatus(checkStatus, count
        ? `${count} problem${count === 1 ? "" : "s"} to fix before publishing: marked in red.`
        : "Checked: the journey can be published.", count > 0);
    });

    let initial = config.definition;
    if (textarea) {
      const text = textarea.value.trim();
      if (text) {
        try {
          initial = JSON.parse(text); // a refused save keeps what was typed
        } catch (error) {
          setStatus(jsonStatus, `Not valid JSON: ${error.message}. The builder shows the saved draft.`, true);
        }
      }
    }

    const builder = new window.JourneyBuilder(mount, {
      definition: initial,
      stats: config.stats,
      catalog: config.catalog,
      rules: config.rules,
      readOnly: config.readOnly,
      onChange(definition) {
        dirty = true;
        if (textarea) {
          textarea.value = JSON.stringify(definition, null, 2);
          setStatus(jsonStatus, "In step with the builder.", false);
        }
        if (config.validateUrl) {
          setStatus(checkStatus, "Checking…", false);
          checker.schedule(definition);
        }
      },
    });
    builder.showErrors(config.errors || {});
    if (Object.keys(config.errors || {}).length) {
      setStatus(checkStatus, "The draft has problems to fix before it can be published: marked in red.", true);
    }
    window.journeyBuilder = builder; // for people poking at the page, and the browser tests

    if (textarea) {
      if (!textarea.value.trim()) textarea.value = JSON.stringify(builder.toJSON(), null, 2);
      let timer = null;
      textarea.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          let definition;
          try {
            definition = JSON.parse(textarea.value);
          } catch (error) {
            setStatus(jsonStatus, `Not valid JSON yet: ${error.message}`, true);
            return;
          }
          dirty = true;
          builder.load(definition);
          setStatus(jsonStatus, "Read into the builder.", false);
          if (config.validateUrl) checker.schedule(definition);
        }, JSON_DELAY_MS);
      });
    }

    // Buttons that post forms of their own publish, pause or archive what is SAVED.
    for (const button of document.querySelectorAll("[data-confirm]")) {
      button.addEventListener("click", (event) => {
        let question = button.dataset.confirm;
        if (dirty && button.dataset.saved !== undefined) {
          question = `${question}\n\nYour changes on this page are not saved and are not included: use “Save and publish” for them.`;
        }
        if (question && !window.confirm(question)) event.preventDefault();
      });
    }

    const statsVersion = document.getElementById("stats-version");
    const statsForm = document.getElementById("stats-version-form");
    if (statsVersion && statsForm) statsVersion.addEventListener("change", () => statsForm.submit());
    drawChart(config);
  }

  class Checker {
    constructor(url, csrfToken, done) {
      this.url = url;
      this.csrfToken = csrfToken;
      this.done = done;
      this.timer = null;
      this.sequence = 0;
    }

    schedule(definition, delay = CHECK_DELAY_MS) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.check(definition), delay);
    }

    async check(definition) {
      const sequence = ++this.sequence;
      let response;
      let body = null;
      try {
        response = await fetch(this.url, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": this.csrfToken },
          body: JSON.stringify({ definition }),
        });
        body = await response.json().catch(() => null);
      } catch (error) {
        if (sequence === this.sequence) this.done(null, "The check could not reach the server; it runs again when you save.");
        return;
      }
      if (sequence !== this.sequence) return; // a newer edit is on its way
      if (response.ok && body && body.errors) this.done(body.errors, null);
      else this.done(null, `The check failed (${response.status}).`);
    }
  }

  function drawChart(config) {
    const canvas = document.getElementById("journey-steps-chart");
    if (!canvas || typeof window.Chart === "undefined" || !config.chart) return;
    const chart = config.chart;
    const colours = { entered: "#79aec8", completed: "#417690", exited: "#c26d6d", converted: "#5aa469" };
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: Object.keys(colours).map((name) => ({
          label: name, backgroundColor: colours[name], data: chart[name],
        })),
      },
      options: {
        responsive: true, animation: false, indexAxis: "y",
        plugins: { legend: { display: true } }, scales: { x: { beginAtZero: true } },
      },
    });
    document.documentElement.dataset.journeyChart = "drawn";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

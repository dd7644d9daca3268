/*
 * The segment change page: puts the rule builder on the page, keeps it in step with the JSON
 * box (the form field that is submitted), shows the live count and sample from
 * POST segments/preview, and offers the ready-made templates from GET segments/templates.
 */
(function () {
  "use strict";

  const PREVIEW_DELAY_MS = 350;
  const JSON_DELAY_MS = 400;
  const ZERO_ID = "00000000-0000-0000-0000-000000000000";

  function start() {
    const configNode = document.getElementById("segment-builder-config");
    const mount = document.getElementById("rule-builder");
    if (!configNode || !mount || !window.SegmentRuleBuilder) return;
    const config = JSON.parse(configNode.textContent);
    const textarea = document.getElementById("id_rules");
    const jsonStatus = document.getElementById("rule-json-status");
    const csrfInput = document.querySelector("input[name=csrfmiddlewaretoken]");
    const csrfToken = csrfInput ? csrfInput.value : "";

    // Errors from a refused save name checks the preview does not make (a segment that
    // includes itself, an unknown segment id): keep them on screen until the rule changes.
    let saveErrors = config.ruleErrors || {};

    const builder = new window.SegmentRuleBuilder(mount, {
      groups: config.groups,
      fields: config.fields,
      operatorLabels: config.operatorLabels,
      pickers: config.pickers,
      readOnly: config.readOnly,
      onChange(rule) {
        saveErrors = {};
        if (textarea) {
          textarea.value = JSON.stringify(rule, null, 2);
          setJsonStatus("In step with the builder.", false);
        }
        preview.schedule(rule);
      },
    });

    function setJsonStatus(text, bad) {
      if (!jsonStatus) return;
      jsonStatus.textContent = text;
      jsonStatus.classList.toggle("sg-bad", Boolean(bad));
    }

    // --- live preview ---------------------------------------------------------------------

    const preview = new Preview(config, csrfToken, (errors) => {
      builder.showErrors({ ...errors, ...saveErrors });
    });

    // --- the JSON box, both ways -----------------------------------------------------------

    let initial = config.initialRules;
    if (textarea) {
      const text = textarea.value.trim();
      if (text) {
        try {
          initial = JSON.parse(text);
        } catch (error) {
          setJsonStatus(`Not valid JSON: ${error.message}. The builder shows the saved rule.`, true);
        }
      }
      let timer = null;
      textarea.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          let rule;
          try {
            rule = JSON.parse(textarea.value);
          } catch (error) {
            setJsonStatus(`Not valid JSON yet: ${error.message}`, true);
            return;
          }
          saveErrors = {};
          builder.load(rule);
          setJsonStatus("Read into the builder.", false);
          preview.schedule(builder.toJSON());
        }, JSON_DELAY_MS);
      });
    }
    builder.load(initial || { combinator: "AND", rules: [] });
    builder.showErrors(saveErrors);
    if (textarea && !textarea.value.trim()) textarea.value = JSON.stringify(builder.toJSON(), null, 2);

    // --- dynamic or static (the add page) ---------------------------------------------------

    const section = document.getElementById("rule-section");
    const typeInputs = document.querySelectorAll("input[name=type]");
    const dynamic = () => {
      const checked = document.querySelector("input[name=type]:checked");
      return !checked || checked.value === "DYNAMIC";
    };
    const applyType = () => {
      const on = dynamic();
      if (section) section.hidden = !on;
      // A static list has no rule: leave the JSON out of the form altogether.
      if (textarea) textarea.disabled = !on;
      if (on) preview.schedule(builder.toJSON());
    };
    typeInputs.forEach((input) => input.addEventListener("change", applyType));
    applyType();

    // --- templates ------------------------------------------------------------------------

    if (!config.readOnly) setUpTemplates(config, builder);
  }

  class Preview {
    constructor(config, csrfToken, showErrors) {
      this.url = config.previewUrl;
      this.customerUrl = config.customerUrl;
      this.csrfToken = csrfToken;
      this.showErrors = showErrors;
      this.timer = null;
      this.sequence = 0;
      this.controller = null;
      this.count = document.getElementById("preview-count");
      this.status = document.getElementById("preview-status");
      this.sample = document.getElementById("preview-sample");
      this.box = document.getElementById("rule-preview");
    }

    schedule(rule, delay = PREVIEW_DELAY_MS) {
      clearTimeout(this.timer);
      this.setState("busy", "Counting…");
      this.timer = setTimeout(() => this.fetch(rule), delay);
    }

    setState(state, text) {
      if (this.box) this.box.dataset.state = state;
      if (this.status) this.status.textContent = text || "";
    }

    async fetch(rule) {
      const sequence = ++this.sequence;
      if (this.controller) this.controller.abort();
      this.controller = new AbortController();
      let response;
      let body = null;
      try {
        response = await fetch(this.url, {
          method: "POST",
          credentials: "same-origin",
          signal: this.controller.signal,
          headers: {
            "Content-Type": "application/json",
            Accept: "application/json",
            "X-CSRFToken": this.csrfToken,
          },
          body: JSON.stringify({ rules: rule }),
        });
        body = await response.json().catch(() => null);
      } catch (error) {
        if (error.name === "AbortError") return;
        if (sequence === this.sequence) this.setState("error", "The preview could not be reached; retrying…");
        this.schedule(rule, 5000);
        return;
      }
      if (sequence !== this.sequence) return; // a newer edit is on its way
      if (response.ok && body && body.data) {
        this.showErrors({});
        this.render(body.data);
        this.setState("ok", "");
        return;
      }
      const error = (body && body.error) || {};
      if (response.status === 400 && error.details) {
        this.showErrors(error.details);
        this.setCount(null);
        this.setState("invalid", "Fix the conditions marked in red to see who matches.");
      } else if (response.status === 429) {
        const wait = Number(response.headers.get("Retry-After")) || 10;
        this.setState("error", `Too many previews for now; counting again in ${wait} s.`);
        this.schedule(rule, wait * 1000);
      } else {
        this.setState("error", `The preview failed (${response.status}): ${error.message || "no answer"}.`);
      }
    }

    setCount(count) {
      if (!this.count) return;
      this.count.textContent = count === null ? "–" : count.toLocaleString("en-GB");
      this.count.dataset.count = count === null ? "" : String(count);
    }

    render(data) {
      this.setCount(data.count);
      const label = document.getElementById("preview-count-label");
      if (label) label.textContent = data.count === 1 ? "customer matches" : "customers match";
      if (!this.sample) return;
      const rows = data.sample.map((customer) => {
        const name = customer.displayName || `Customer ${customer.id.slice(0, 8)}`;
        const cell = (text) => {
          const td = document.createElement("td");
          td.textContent = text || "—";
          return td;
        };
        const nameCell = document.createElement("td");
        if (this.customerUrl) {
          const link = document.createElement("a");
          link.href = this.customerUrl.replace(ZERO_ID, customer.id);
          link.textContent = name;
          nameCell.append(link);
        } else {
          nameCell.textContent = name;
        }
        const tr = document.createElement("tr");
        tr.append(nameCell, cell(customer.email), cell(customer.membershipTier));
        return tr;
      });
      const body = this.sample.querySelector("tbody");
      body.replaceChildren(...rows);
      this.sample.hidden = rows.length === 0;
      const more = document.getElementById("preview-more");
      if (more) {
        more.textContent = data.count > rows.length
          ? `The first ${rows.length} by name, of ${data.count.toLocaleString("en-GB")}.`
          : data.count === 0 ? "Nobody matches this rule right now." : "";
      }
    }
  }

  function setUpTemplates(config, builder) {
    const select = document.getElementById("rule-template");
    const apply = document.getElementById("rule-template-apply");
    const about = document.getElementById("rule-template-about");
    const keyInput = document.getElementById("id_template_key");
    if (!select || !apply) return;
    let templates = [];
    fetch(config.templatesUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((body) => {
        templates = body.data || [];
        for (const [index, template] of templates.entries()) {
          const option = document.createElement("option");
          option.value = String(index);
          option.textContent = template.name;
          select.append(option);
        }
        select.disabled = false;
      })
      .catch(() => {
        if (about) about.textContent = "The templates could not be loaded.";
      });
    select.addEventListener("change", () => {
      const template = templates[Number(select.value)];
      apply.disabled = !template;
      if (about) about.textContent = template ? template.description || "" : "";
    });
    apply.addEventListener("click", () => {
      const template = templates[Number(select.value)];
      if (!template) return;
      const before = builder.toJSON();
      builder.load(template.rules);
      builder.changed();
      if (keyInput) keyInput.value = template.key;
      const name = document.getElementById("id_name");
      if (name && !name.value.trim()) name.value = template.name;
      const description = document.getElementById("id_description");
      if (description && !description.value.trim()) description.value = template.description || "";
      if (about) {
        const undo = document.createElement("button");
        undo.type = "button";
        undo.className = "rb-btn rb-btn-quiet";
        undo.textContent = "Undo";
        undo.addEventListener("click", () => {
          builder.load(before);
          builder.changed();
          if (keyInput) keyInput.value = "";
          about.textContent = "";
        });
        about.replaceChildren(`Started from “${template.name}”. Change anything you like. `, undo);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

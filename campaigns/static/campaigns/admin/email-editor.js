/* The email template block editor: blocks as cards (fields, a picker of the customer's fields
   for every text, move up/down, remove, add), kept as JSON in the form's hidden field, and a
   preview the server renders (MJML by MRML) as you type. No dependencies. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("data-") || k === "for" || k === "aria-label" || k === "type") node.setAttribute(k, v);
      else node[k] = v;
    });
    (children || []).forEach((c) => c && node.appendChild(c));
    return node;
  }

  function init() {
    const root = document.querySelector("[data-ete]");
    const configNode = document.getElementById("email-editor-config");
    if (!root || !configNode) return;
    const cfg = JSON.parse(configNode.textContent);
    const previewUrl = (document.getElementById("email-editor-preview-url") || {}).textContent || "";
    let errors = JSON.parse((document.getElementById("email-editor-errors") || {}).textContent || "{}");
    const textarea = root.querySelector("textarea");
    const list = root.querySelector("[data-ete-blocks]");
    const general = root.querySelector("[data-ete-general]");
    const form = root.closest("form");
    let blocks;
    try { blocks = JSON.parse(textarea.value || "[]"); } catch (e) { blocks = []; }
    if (!Array.isArray(blocks)) blocks = [];

    const NOTES = {
      header: "Shows the club's logo and colours (Settings › Email branding).",
      footer: "Shows the club's name and address and the unsubscribe link, always.",
      competition: "A card with the competition, its date and an entry button.",
    };

    function picker(target) {
      const select = el("select", { className: "ete-pick", "aria-label": "Insert a customer field" });
      select.appendChild(el("option", { value: "", text: "Insert a customer field…" }));
      cfg.variables.forEach((v) => select.appendChild(el("option", { value: v.name, text: v.label })));
      select.addEventListener("change", () => {
        if (!select.value) return;
        const token = "{{ " + select.value + " }}";
        const start = target.selectionStart ?? target.value.length;
        const end = target.selectionEnd ?? target.value.length;
        target.value = target.value.slice(0, start) + token + target.value.slice(end);
        target.focus();
        target.selectionStart = target.selectionEnd = start + token.length;
        select.value = "";
        target.dispatchEvent(new Event("input", { bubbles: true }));
      });
      return select;
    }

    function sync() {
      textarea.value = JSON.stringify(blocks);
      schedulePreview();
    }

    function move(index, by) {
      const to = index + by;
      if (to < 0 || to >= blocks.length) return;
      [blocks[index], blocks[to]] = [blocks[to], blocks[index]];
      errors = {};
      render(); sync();
    }

    function render() {
      list.replaceChildren();
      const generalMessages = [].concat(errors.blocks || []);
      general.hidden = !generalMessages.length;
      general.textContent = generalMessages.join(" ");
      blocks.forEach((block, index) => {
        const kind = cfg.blockTypes[block.type];
        const card = el("li", { className: "ete-block", "data-index": String(index) });
        if (!kind) {
          card.appendChild(el("p", { className: "ete-error", text: "Unknown block " + block.type }));
          list.appendChild(card);
          return;
        }
        const up = el("button", { type: "button", className: "ete-button", text: "↑", "aria-label": "Move up", disabled: index === 0 });
        const down = el("button", { type: "button", className: "ete-button", text: "↓", "aria-label": "Move down", disabled: index === blocks.length - 1 });
        const remove = el("button", { type: "button", className: "ete-button", text: "Remove", "aria-label": "Remove block " + (index + 1) });
        up.addEventListener("click", () => move(index, -1));
        down.addEventListener("click", () => move(index, 1));
        remove.addEventListener("click", () => { blocks.splice(index, 1); errors = {}; render(); sync(); });
        card.appendChild(el("div", { className: "ete-block-head" }, [
          el("span", { className: "ete-block-title", text: (index + 1) + ". " + kind.label }),
          el("span", { className: "ete-tools" }, [up, down, remove]),
        ]));
        if (NOTES[block.type]) card.appendChild(el("p", { className: "ete-block-note", text: NOTES[block.type] }));
        let hasError = false;
        [].concat(errors["blocks[" + index + "]"] || [], errors["blocks[" + index + "].type"] || []).forEach((m) => {
          hasError = true;
          card.appendChild(el("p", { className: "ete-error", text: m }));
        });
        kind.fields.forEach((field) => {
          const id = "ete-" + index + "-" + field.name;
          const input = field.kind === "multiline"
            ? el("textarea", { id: id, rows: 4 })
            : el("input", { id: id, type: field.kind === "url" ? "url" : "text" });
          if (field.kind === "url") input.placeholder = "https://";
          input.value = block[field.name] || "";
          input.required = false;
          input.addEventListener("input", () => { block[field.name] = input.value; sync(); });
          const label = el("label", { className: "ete-field", for: id }, [
            el("span", { text: field.label + (field.required ? " *" : "") }),
          ]);
          const wrap = el("div", { className: "ete-field" }, [label, input]);
          label.className = "";
          if (field.kind !== "url") wrap.appendChild(picker(input));
          (errors["blocks[" + index + "]." + field.name] || []).forEach((m) => {
            hasError = true;
            wrap.appendChild(el("p", { className: "ete-error", text: m }));
          });
          card.appendChild(wrap);
        });
        if (hasError) card.classList.add("ete-has-error");
        list.appendChild(card);
      });
    }

    // Adding a block: before the footer, where content goes.
    const addType = root.querySelector("[data-ete-add-type]");
    Object.entries(cfg.blockTypes).forEach(([type, kind]) => addType.appendChild(el("option", { value: type, text: kind.label })));
    addType.value = "text";
    root.querySelector("[data-ete-add]").addEventListener("click", () => {
      const block = { type: addType.value };
      const footer = blocks.findIndex((b) => b.type === "footer");
      if (footer >= 0 && block.type !== "footer") blocks.splice(footer, 0, block); else blocks.push(block);
      render(); sync();
      const cards = list.querySelectorAll(".ete-block");
      const added = cards[footer >= 0 && block.type !== "footer" ? footer : cards.length - 1];
      if (added) { added.scrollIntoView({ block: "center" }); const first = added.querySelector("input,textarea"); if (first) first.focus(); }
    });

    // Subject and preview text take the same picker.
    ["id_subject", "id_preheader"].forEach((id) => {
      const input = document.getElementById(id);
      if (!input) return;
      const pick = picker(input);
      pick.classList.add("ete-subject-pick");
      input.insertAdjacentElement("afterend", pick);
      input.addEventListener("input", schedulePreview);
    });

    // A starter replaces the blocks (on a new template).
    const startFrom = document.getElementById("id_start_from");
    let pristine = true;
    list.addEventListener("input", () => { pristine = false; });
    if (startFrom) startFrom.addEventListener("change", () => {
      const starter = cfg.starters[startFrom.value];
      if (!starter) return;
      if (!pristine && !window.confirm("Replace the blocks with the starter's?")) return;
      blocks = JSON.parse(JSON.stringify(starter.blocks));
      const subject = document.getElementById("id_subject");
      const preheader = document.getElementById("id_preheader");
      const name = document.getElementById("id_name");
      if (subject) subject.value = starter.subject;
      if (preheader) preheader.value = starter.preheader;
      if (name && !name.value) name.value = starter.name;
      errors = {}; pristine = true;
      render(); sync();
    });

    // The preview: rendered by the server from the form as it stands.
    const frame = root.querySelector("[data-ete-frame]");
    const subjectLine = root.querySelector("[data-ete-subject]");
    const customer = root.querySelector("[data-ete-customer]");
    let timer = null;
    let sequence = 0;
    // The whole email, no inner scroll bar: the frame runs no scripts (sandbox without
    // allow-scripts), so reading its height from here is safe.
    function fit() {
      try {
        const doc = frame.contentDocument;
        if (doc && doc.body) frame.style.height = Math.max(400, doc.documentElement.scrollHeight) + "px";
      } catch (e) { /* not readable: keep the default height */ }
    }
    frame.addEventListener("load", fit);
    function schedulePreview() { clearTimeout(timer); timer = setTimeout(preview, 350); }
    customer.addEventListener("input", schedulePreview);
    root.querySelectorAll("[data-ete-width]").forEach((button) => button.addEventListener("click", () => {
      frame.style.width = button.dataset.eteWidth + "px";
      setTimeout(fit, 50);
      root.querySelectorAll("[data-ete-width]").forEach((b) => b.classList.toggle("ete-on", b === button));
    }));

    function preview() {
      if (!previewUrl) return;
      const mine = ++sequence;
      const body = new FormData();
      body.append("blocks", textarea.value);
      body.append("subject", (document.getElementById("id_subject") || {}).value || "");
      body.append("preheader", (document.getElementById("id_preheader") || {}).value || "");
      body.append("customer", customer.value);
      const csrf = form && form.querySelector("[name=csrfmiddlewaretoken]");
      fetch(previewUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: csrf ? { "X-CSRFToken": csrf.value } : {},
      }).then((r) => r.json()).then((answer) => {
        if (mine !== sequence) return;
        if (answer.html !== undefined) frame.srcdoc = answer.html;
        const problems = answer.errors || {};
        const customerProblem = (problems.customer || [])[0];
        subjectLine.textContent = customerProblem
          ? customerProblem
          : "Subject: " + (answer.subject || "—") + "  ·  shown for " + (answer.shownFor || "sample values");
        subjectLine.classList.toggle("ete-error", !!customerProblem);
        const changed = JSON.stringify(problems) !== JSON.stringify(errors);
        if (changed) {
          errors = problems;
          const focused = document.activeElement && document.activeElement.id;
          const caret = document.activeElement && document.activeElement.selectionStart;
          render();
          if (focused) { const again = document.getElementById(focused); if (again) { again.focus(); try { again.selectionStart = again.selectionEnd = caret; } catch (e) { /* not a text field */ } } }
        }
      }).catch(() => { subjectLine.textContent = "The preview could not be rendered just now."; });
    }

    render();
    textarea.value = JSON.stringify(blocks);
    preview();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

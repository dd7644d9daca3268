/*
 * Segment rule builder: groups (ALL/ANY, NOT, nested) and conditions over the segment field
 * catalogue, producing the rule JSON of segments.md. Plain JavaScript, no framework, no build
 * step; why not a library is in segments/admin.py.
 *
 *   const builder = new SegmentRuleBuilder(element, {
 *     groups, fields, operatorLabels, pickers,   // GET segments/fields, plus OPERATOR_LABELS
 *     readOnly, onChange(rule) { ... },
 *   });
 *   builder.load(rule);            // any rule JSON; what it cannot show as controls it keeps
 *   builder.toJSON();              // the rule as segments.md writes it
 *   builder.showErrors({"rules[1].value": ["Must be a whole number."]});
 *
 * The JSON it writes is exactly the contract's: a group is {combinator, rules} (plus
 * `not: true` only when negated), a condition {field, operator, value, window} with `value`
 * left out for isNull/isNotNull and `window` only for fields that take one. A condition whose
 * field is not chosen yet is not part of the rule. Keys the builder does not know are kept and
 * written back, so the server still names them.
 */
(function () {
  "use strict";

  const NO_VALUE = new Set(["isNull", "isNotNull"]);
  const LIST = new Set(["in", "notIn"]);
  const DAYS = new Set(["withinLastDays", "moreThanDaysAgo", "withinNextDays"]);
  const NUMERIC = new Set(["integer", "count", "number", "share"]);
  const WHOLE = new Set(["integer", "count"]);
  const MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
  ];
  // Comparisons read as dates for date fields ("is after", not "more than").
  const DATE_LABELS = {
    eq: "is on", neq: "is not on", gt: "is after", gte: "is on or after", lt: "is before",
    lte: "is on or before",
  };
  // Up to this many choices show as toggles; more as a drop-down that adds chips.
  const PILL_LIMIT = 24;
  const DEFAULT_DAYS = 30;
  const PATH_OF_NODE = /^rules\[\d+\](?:\.rules\[\d+\])*/;

  let uidCounter = 0;
  const nextUid = () => `rb${++uidCounter}`;

  /** document.createElement with properties, listeners and children. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** FULL -> Full, FIVE_DAY -> Five day; anything not an upper-case code stays as it is. */
  function humanise(code) {
    const text = String(code);
    if (!/^[A-Z][A-Z0-9_]*$/.test(text)) return text;
    const words = text.toLowerCase().replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function parseNumber(raw) {
    if (raw === "" || raw === null || raw === undefined) return null;
    const number = Number(raw);
    return Number.isNaN(number) ? null : number;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function sameValue(a, b) {
    return a === b || (typeof a === "number" && String(a) === String(b));
  }

  class SegmentRuleBuilder {
    constructor(container, options) {
      this.container = container;
      this.groups = options.groups || [];
      this.fields = options.fields || [];
      this.byName = new Map(this.fields.map((spec) => [spec.name, spec]));
      this.operatorLabels = options.operatorLabels || {};
      this.pickers = options.pickers || {};
      this.readOnly = Boolean(options.readOnly);
      this.onChange = options.onChange || (() => {});
      this.byPath = new Map();
      this.root = this.emptyGroup();
      this.container.classList.add("rb");
    }

    // --- state ---------------------------------------------------------------------------

    emptyGroup() {
      return { kind: "group", uid: nextUid(), combinator: "AND", not: false, children: [], extra: {} };
    }

    draftCondition() {
      return { kind: "condition", uid: nextUid(), field: "", operator: "", value: undefined, window: undefined, extra: {} };
    }

    spec(name) {
      return this.byName.get(name);
    }

    load(rule) {
      const node = this.toNode(rule);
      if (node.kind === "group") this.root = node;
      else {
        // A bare condition is a rule too (segments.md); the builder shows it inside a group.
        this.root = this.emptyGroup();
        this.root.children.push(node);
      }
      this.render();
    }

    toNode(raw) {
      if (isObject(raw) && ("field" in raw || "operator" in raw)) {
        const { field, operator, value, window: period, ...extra } = raw;
        return {
          kind: "condition", uid: nextUid(), field: field === undefined ? "" : field,
          operator: operator === undefined ? "" : operator, value, window: period, extra,
        };
      }
      const group = this.emptyGroup();
      if (!isObject(raw)) return group;
      const { combinator, not, rules, ...extra } = raw;
      group.combinator = combinator === undefined ? "AND" : combinator;
      group.not = not;
      group.extra = extra;
      if (Array.isArray(rules)) {
        group.children = rules.map((child) => this.toNode(child));
      } else if (rules !== undefined) {
        group.extra.rules = rules; // not a list: written back for the server to name
      }
      return group;
    }

    toJSON() {
      this.byPath = new Map();
      return this.serialize(this.root, "");
    }

    serialize(node, path) {
      this.byPath.set(path, node);
      if (node.kind === "group") {
        const out = { combinator: node.combinator };
        if (node.not !== false && node.not !== undefined) out.not = node.not;
        const rules = [];
        for (const child of node.children) {
          if (child.kind === "condition" && child.field === "") continue; // not chosen yet
          rules.push(this.serialize(child, `${path ? `${path}.` : ""}rules[${rules.length}]`));
        }
        out.rules = rules;
        return Object.assign(out, node.extra);
      }
      const out = { field: node.field, operator: node.operator };
      if (node.value !== undefined) out.value = node.value;
      if (node.window !== undefined) out.window = node.window;
      return Object.assign(out, node.extra);
    }

    /** Tell the page the rule changed (after every edit; controls are redrawn by the caller
     * only when the shape of a condition changes, so typing keeps its focus). */
    changed() {
      this.onChange(this.toJSON());
    }

    // --- defaults when a field or operator changes -----------------------------------------

    defaultOperator(spec) {
      const preferred = {
        enum: "in", string: spec.picker ? "in" : "eq", tags: "contains", count: "gte",
        share: "gte", number: "gte", date: "withinLastDays", datetime: "withinLastDays",
        boolean: "eq", segment: "eq", integer: "eq",
      }[spec.type];
      return spec.operators.includes(preferred) ? preferred : spec.operators[0];
    }

    defaultValue(spec, operator) {
      if (NO_VALUE.has(operator)) return undefined;
      if (DAYS.has(operator)) return DEFAULT_DAYS;
      if (LIST.has(operator)) return [];
      if (operator === "between") return [null, null];
      if (spec.type === "boolean") return true;
      if (spec.type === "count" && operator === "gte") return 1;
      return null;
    }

    convertValue(spec, from, to, value) {
      if (NO_VALUE.has(to)) return undefined;
      if (DAYS.has(to)) return DAYS.has(from) ? value : DEFAULT_DAYS;
      if (DAYS.has(from) || NO_VALUE.has(from) || value === undefined) {
        return this.defaultValue(spec, to);
      }
      const items = Array.isArray(value) ? value : [value];
      const first = items.find((item) => item !== null && item !== undefined && item !== "");
      if (LIST.has(to)) return LIST.has(from) ? value : first === undefined ? [] : [first];
      if (to === "between") return from === "between" ? value : [first === undefined ? null : first, null];
      return first === undefined ? this.defaultValue(spec, to) : first;
    }

    setField(node, name) {
      const before = this.spec(node.field);
      const spec = this.spec(name);
      node.field = name;
      if (!spec) return;
      const sameKind = before && before.type === spec.type && before.picker === spec.picker
        && JSON.stringify(before.choices) === JSON.stringify(spec.choices)
        && (before.name === "birthMonth") === (spec.name === "birthMonth");
      if (!sameKind || !spec.operators.includes(node.operator)) {
        node.operator = this.defaultOperator(spec);
        node.value = this.defaultValue(spec, node.operator);
      }
      if (spec.windowed) {
        if (node.window === undefined) node.window = { lastDays: DEFAULT_DAYS };
      } else {
        node.window = undefined;
      }
    }

    setOperator(node, operator) {
      const spec = this.spec(node.field);
      node.value = spec ? this.convertValue(spec, node.operator, operator, node.value) : node.value;
      node.operator = operator;
    }

    // --- choices --------------------------------------------------------------------------

    optionsFor(spec) {
      if (spec.name === "birthMonth") return MONTHS.map((label, index) => ({ value: index + 1, label }));
      if (spec.type === "enum") return spec.choices.map((choice) => ({ value: choice, label: humanise(choice) }));
      if (spec.type === "segment" || spec.picker === "segments") {
        return (this.pickers.segments || []).map((segment) => ({ value: segment.id, label: segment.name }));
      }
      if (spec.picker) return (this.pickers[spec.picker] || []).map((value) => ({ value, label: humanise(value) }));
      return [];
    }

    allowsFreeEntry(spec) {
      return ["string", "tags", "integer"].includes(spec.type) && spec.name !== "birthMonth";
    }

    parseFree(spec, raw) {
      const text = raw.trim();
      if (spec.type === "integer" && /^-?\d+$/.test(text)) return Number(text);
      return text;
    }

    operatorLabel(operator, spec) {
      if (spec && (spec.type === "date" || spec.type === "datetime") && DATE_LABELS[operator]) {
        return DATE_LABELS[operator];
      }
      const label = this.operatorLabels[operator] || operator;
      // "in the last … days": the number and "days" come after it, in the value editor.
      return DAYS.has(operator) ? label.replace(/\s*…\s*days(?: ago)?$/, "") : label;
    }

    // --- rendering ------------------------------------------------------------------------

    render() {
      this.toJSON(); // paths for showErrors
      const tree = this.renderGroup(this.root, 0, null);
      this.container.replaceChildren(tree);
      if (this.readOnly) {
        for (const control of this.container.querySelectorAll("input, select, button, textarea")) {
          control.disabled = true;
        }
      }
    }

    renderAndFocus(uid, selector) {
      this.render();
      const box = this.container.querySelector(`[data-uid="${uid}"]`);
      const target = box && (selector ? box.querySelector(selector) : box);
      if (target && typeof target.focus === "function") target.focus();
    }

    renderGroup(node, depth, parent) {
      const combinator = el("select", {
        class: "rb-combinator", "aria-label": "Match all or any of these",
        onchange: (event) => {
          node.combinator = event.target.value;
          this.changed();
          this.renderAndFocus(node.uid, ".rb-combinator");
        },
      },
      el("option", { value: "AND" }, "ALL of these (AND)"),
      el("option", { value: "OR" }, "ANY of these (OR)"));
      if (node.combinator !== "AND" && node.combinator !== "OR") {
        combinator.append(el("option", { value: String(node.combinator) }, `⚠ ${JSON.stringify(node.combinator)}`));
      }
      combinator.value = String(node.combinator);

      const negate = el("input", {
        type: "checkbox", class: "rb-not-input",
        onchange: (event) => {
          node.not = event.target.checked;
          this.changed();
          this.renderAndFocus(node.uid, ".rb-not-input");
        },
      });
      negate.checked = node.not === true;

      const head = el("div", { class: "rb-group-head" },
        el("span", { class: "rb-group-label" }, depth === 0 ? "Customers who match" : "Match"),
        combinator,
        el("label", { class: "rb-not", title: "Leave out whoever matches this group" }, negate, "NOT (everyone except these)"),
        el("span", { class: "rb-spacer" }),
        !this.readOnly && parent && el("button", {
          type: "button", class: "rb-btn rb-btn-quiet rb-remove-group", title: "Remove this group and its conditions",
          onclick: () => {
            parent.children.splice(parent.children.indexOf(node), 1);
            this.changed();
            this.renderAndFocus(parent.uid, ".rb-add-condition");
          },
        }, "Remove group"));

      const list = el("div", { class: "rb-children" });
      node.children.forEach((child, index) => {
        if (index > 0) {
          list.append(el("div", { class: "rb-joiner" }, node.combinator === "OR" ? "or" : "and"));
        }
        list.append(child.kind === "group" ? this.renderGroup(child, depth + 1, node) : this.renderCondition(child, node));
      });
      if (!node.children.length) {
        list.append(el("p", { class: "rb-empty" }, depth === 0
          ? "No conditions yet, so every customer matches. Add a condition to narrow it down."
          : "An empty group matches every customer."));
      }

      const actions = !this.readOnly && el("div", { class: "rb-group-actions" },
        el("button", {
          type: "button", class: "rb-btn rb-add-condition",
          onclick: () => {
            const draft = this.draftCondition();
            node.children.push(draft);
            this.changed();
            this.renderAndFocus(draft.uid, ".rb-field");
          },
        }, "+ Condition"),
        el("button", {
          type: "button", class: "rb-btn rb-btn-quiet rb-add-group",
          onclick: () => {
            const group = this.emptyGroup();
            const draft = this.draftCondition();
            group.children.push(draft);
            node.children.push(group);
            this.changed();
            this.renderAndFocus(draft.uid, ".rb-field");
          },
        }, "+ Group"));

      const errors = el("ul", { class: "rb-errors", role: "alert" });
      const box = el("div", {
        class: `rb-group rb-depth-${depth % 4}${node.not === true ? " rb-negated" : ""}`,
        dataset: { uid: node.uid },
      }, head, errors, list, actions);
      node.dom = { box, errors, parts: { combinator, not: negate, rules: list } };
      return box;
    }

    renderCondition(node, parent) {
      const spec = this.spec(node.field);
      const parts = {};
      const row = el("div", { class: "rb-row" });

      const field = el("select", {
        class: "rb-field", "aria-label": "Field",
        onchange: (event) => {
          this.setField(node, event.target.value);
          this.changed();
          this.renderAndFocus(node.uid, ".rb-field");
        },
      }, el("option", { value: "" }, "Choose a field…"));
      for (const group of this.groups) {
        const specs = this.fields.filter((candidate) => candidate.group === group.key);
        if (!specs.length) continue;
        field.append(el("optgroup", { label: group.label },
          specs.map((candidate) => el("option", { value: candidate.name, title: candidate.description || null }, candidate.label))));
      }
      if (node.field && !spec) field.append(el("option", { value: String(node.field) }, `⚠ Unknown field ${JSON.stringify(node.field)}`));
      field.value = String(node.field);
      parts.field = field;
      row.append(field);

      if (spec) {
        const operator = el("select", {
          class: "rb-operator", "aria-label": "Operator",
          onchange: (event) => {
            this.setOperator(node, event.target.value);
            this.changed();
            this.renderAndFocus(node.uid, ".rb-operator");
          },
        }, spec.operators.map((op) => el("option", { value: op }, this.operatorLabel(op, spec))));
        if (!spec.operators.includes(node.operator)) {
          operator.append(el("option", { value: String(node.operator) }, `⚠ ${JSON.stringify(node.operator)}`));
        }
        operator.value = String(node.operator);
        parts.operator = operator;
        row.append(operator);

        const value = el("span", { class: "rb-value" }, this.valueEditor(node, spec));
        parts.value = value;
        row.append(value);
        if (spec.windowed || node.window !== undefined) {
          parts.window = this.windowEditor(node);
          row.append(parts.window);
        }
      } else if (!node.field) {
        row.append(el("span", { class: "rb-prompt" }, "Choose what to look at: membership, golf, payments, email…"));
      }

      if (!this.readOnly) {
        row.append(el("button", {
          type: "button", class: "rb-btn rb-btn-quiet rb-remove", title: "Remove this condition",
          "aria-label": "Remove this condition",
          onclick: () => {
            parent.children.splice(parent.children.indexOf(node), 1);
            this.changed();
            this.renderAndFocus(parent.uid, ".rb-add-condition");
          },
        }, "×"));
      }

      const hint = spec && spec.description ? el("div", { class: "rb-hint" }, spec.description) : null;
      const errors = el("ul", { class: "rb-errors", role: "alert" });
      const box = el("div", { class: "rb-condition", dataset: { uid: node.uid, field: node.field || "" } }, row, hint, errors);
      node.dom = { box, errors, parts };
      return box;
    }

    // --- value editors --------------------------------------------------------------------

    valueEditor(node, spec) {
      const operator = node.operator;
      const set = (value) => {
        node.value = value;
        this.changed();
      };
      if (NO_VALUE.has(operator)) return null;
      if (DAYS.has(operator)) {
        return [
          this.numberInput(node.value, { min: 0, step: 1, label: "Number of days" }, set),
          el("span", { class: "rb-unit" }, operator === "moreThanDaysAgo" ? "days ago" : "days"),
        ];
      }
      if (operator === "between") {
        const pair = Array.isArray(node.value) ? [...node.value] : [null, null];
        const update = (index) => (value) => {
          pair[index] = value;
          set([pair[0], pair[1]]);
        };
        return [
          this.scalarEditor(spec, pair[0], update(0), "From"),
          el("span", { class: "rb-unit" }, "and"),
          this.scalarEditor(spec, pair[1], update(1), "To"),
        ];
      }
      if (LIST.has(operator)) return this.multiEditor(node, spec, set);
      return this.scalarEditor(spec, node.value, set, "Value");
    }

    scalarEditor(spec, value, set, label) {
      if (spec.name === "birthMonth" || spec.type === "enum" || spec.type === "segment" || spec.type === "boolean") {
        const options = spec.type === "boolean"
          ? [{ value: true, label: "Yes" }, { value: false, label: "No" }]
          : this.optionsFor(spec);
        const select = el("select", { class: "rb-input rb-select", "aria-label": label },
          spec.type === "boolean" ? null : el("option", { value: "" }, "Choose…"),
          options.map((option, index) => el("option", { value: String(index) }, option.label)));
        const index = options.findIndex((option) => sameValue(option.value, value));
        if (index === -1 && value !== null && value !== undefined) {
          select.append(el("option", { value: "raw" }, `⚠ ${JSON.stringify(value)}`));
          select.value = "raw";
        } else {
          select.value = index === -1 ? "" : String(index);
        }
        select.addEventListener("change", () => {
          if (select.value === "raw") return;
          set(select.value === "" ? null : options[Number(select.value)].value);
        });
        return select;
      }
      if (spec.type === "date" || spec.type === "datetime") {
        const input = el("input", { type: "date", class: "rb-input rb-date", "aria-label": label });
        input.value = typeof value === "string" ? value.slice(0, 10) : "";
        input.addEventListener("input", () => set(input.value || null));
        return input;
      }
      if (NUMERIC.has(spec.type)) {
        const input = this.numberInput(value, {
          min: spec.minimum, max: spec.maximum, step: WHOLE.has(spec.type) ? 1 : "any", label,
        }, set);
        return spec.type === "share" ? [input, el("span", { class: "rb-unit" }, "%")] : input;
      }
      // Free text (email, ids, a tag), offering the club's own values where it has them.
      const options = this.optionsFor(spec);
      const listId = options.length ? `${nextUid()}-list` : null;
      const input = el("input", {
        type: "text", class: "rb-input rb-text", "aria-label": label, list: listId,
        placeholder: spec.type === "tags" ? "a tag" : "",
      });
      input.value = value === null || value === undefined ? "" : String(value);
      input.addEventListener("input", () => set(input.value));
      if (!listId) return input;
      return [input, el("datalist", { id: listId }, options.map((option) => el("option", { value: option.value })))];
    }

    numberInput(value, { min, max, step, label }, set) {
      const input = el("input", {
        type: "number", class: "rb-input rb-number", "aria-label": label, step: step === undefined ? null : step,
        min: min === null || min === undefined ? null : min, max: max === null || max === undefined ? null : max,
        inputmode: step === 1 ? "numeric" : "decimal",
      });
      input.value = typeof value === "number" ? String(value) : "";
      input.addEventListener("input", () => set(parseNumber(input.value)));
      return input;
    }

    /** Pick several values: toggles for a short list, chips and a drop-down for a long one,
     * plus free entry where values the club has not seen yet make sense (a tier, a tag). */
    multiEditor(node, spec, set) {
      const options = this.optionsFor(spec);
      const free = this.allowsFreeEntry(spec);
      const box = el("span", { class: "rb-multi" });
      const selected = () => (Array.isArray(node.value) ? node.value : []);
      const known = (value) => options.some((option) => sameValue(option.value, value));
      const labelOf = (value) => {
        const option = options.find((candidate) => sameValue(candidate.value, value));
        return option ? option.label : String(value);
      };
      // Known values in the list's own order, then the others in the order they were added.
      const ordered = (values) => [
        ...options.filter((option) => values.some((value) => sameValue(value, option.value))).map((option) => option.value),
        ...values.filter((value) => !known(value)),
      ];
      const update = (values, focusSelector) => {
        set(ordered(values));
        draw(focusSelector);
      };

      const draw = (focusSelector) => {
        const values = selected();
        const content = [];
        if (options.length && options.length <= PILL_LIMIT) {
          for (const option of options) {
            const checkbox = el("input", { type: "checkbox", value: String(option.value) });
            checkbox.checked = values.some((value) => sameValue(value, option.value));
            checkbox.addEventListener("change", () => {
              const rest = values.filter((value) => !sameValue(value, option.value));
              update(checkbox.checked ? [...rest, option.value] : rest, `input[value="${CSS.escape(String(option.value))}"]`);
            });
            content.push(el("label", { class: "rb-pill", title: String(option.value) }, checkbox, option.label));
          }
          for (const value of values.filter((item) => !known(item))) content.push(this.chip(value, String(value), () => update(values.filter((item) => item !== value))));
        } else {
          for (const value of values) content.push(this.chip(value, labelOf(value), () => update(values.filter((item) => item !== value))));
          const rest = options.filter((option) => !values.some((value) => sameValue(value, option.value)));
          if (rest.length) {
            const select = el("select", { class: "rb-input rb-add-choice", "aria-label": "Add a value" },
              el("option", { value: "" }, "Add…"), rest.map((option, index) => el("option", { value: String(index) }, option.label)));
            select.addEventListener("change", () => {
              if (select.value !== "") update([...values, rest[Number(select.value)].value], ".rb-add-choice");
            });
            content.push(select);
          }
        }
        if (free && !this.readOnly) {
          const input = el("input", {
            type: "text", class: "rb-input rb-free", "aria-label": "Another value",
            placeholder: options.length ? "other…" : "type a value",
          });
          const add = () => {
            const value = this.parseFree(spec, input.value);
            if (value === "" || values.some((item) => sameValue(item, value))) return;
            update([...values, value], ".rb-free");
          };
          input.addEventListener("keydown", (event) => {
            if (event.key === "Enter" || event.key === ",") {
              event.preventDefault(); // Enter would submit the whole admin form
              add();
            }
          });
          content.push(input, el("button", { type: "button", class: "rb-btn rb-btn-quiet rb-free-add", onclick: add }, "Add"));
        }
        if (!content.length) content.push(el("span", { class: "rb-prompt" }, "Nothing to choose from yet."));
        box.replaceChildren(...content);
        if (this.readOnly) for (const control of box.querySelectorAll("input, select, button")) control.disabled = true;
        if (focusSelector) {
          const target = box.querySelector(focusSelector);
          if (target) target.focus();
        }
      };
      draw();
      return box;
    }

    chip(value, label, remove) {
      return el("span", { class: "rb-chip", title: String(value) }, label,
        !this.readOnly && el("button", { type: "button", class: "rb-chip-remove", "aria-label": `Remove ${label}`, onclick: remove }, "×"));
    }

    /** For counts over the timeline: the last N days, between two dates, or all time. */
    windowEditor(node) {
      const period = node.window;
      const mode = period === undefined || period === null ? "all"
        : isObject(period) && "lastDays" in period ? "last" : "range";
      const select = el("select", { class: "rb-input rb-window-mode", "aria-label": "Period" },
        el("option", { value: "last" }, "in the last"),
        el("option", { value: "range" }, "between dates"),
        el("option", { value: "all" }, "at any time"));
      select.value = mode;
      select.addEventListener("change", () => {
        node.window = { last: { lastDays: DEFAULT_DAYS }, range: {}, all: undefined }[select.value];
        this.changed();
        this.renderAndFocus(node.uid, ".rb-window-mode");
      });
      const box = el("span", { class: "rb-window" }, select);
      if (mode === "last") {
        box.append(
          this.numberInput(period.lastDays, { min: 1, step: 1, label: "Days" }, (days) => {
            node.window = { ...period, lastDays: days };
            this.changed();
          }),
          el("span", { class: "rb-unit" }, "days"));
      } else if (mode === "range") {
        const bounds = isObject(period) ? { ...period } : {};
        const dateInput = (key, label) => {
          const input = el("input", { type: "date", class: "rb-input rb-date", "aria-label": label });
          input.value = typeof bounds[key] === "string" ? bounds[key] : "";
          input.addEventListener("input", () => {
            if (input.value) bounds[key] = input.value;
            else delete bounds[key];
            node.window = { ...bounds };
            this.changed();
          });
          return input;
        };
        box.append(dateInput("from", "From"), el("span", { class: "rb-unit" }, "to"), dateInput("to", "To"));
      }
      return box;
    }

    // --- errors ---------------------------------------------------------------------------

    /** Show the server's errors ({path: [messages]}) next to what they name. Returns those
     * that name nothing on screen (shown on the top group). */
    showErrors(errors) {
      this.toJSON();
      for (const node of this.byPath.values()) this.clearErrors(node);
      this.clearErrors(this.root);
      for (const [key, messages] of Object.entries(errors || {})) {
        const match = key.match(PATH_OF_NODE);
        let path = match ? match[0] : "";
        let node = this.byPath.get(path);
        while (!node && path) { // a path the rule no longer has: its nearest ancestor
          path = path.replace(/(?:^|\.)rules\[\d+\]$/, "");
          node = this.byPath.get(path);
        }
        node = node || this.root;
        const part = match ? key.slice(match[0].length).replace(/^\./, "") : key === "rules" ? "" : key;
        this.addErrors(node, part, [].concat(messages));
      }
    }

    clearErrors(node) {
      if (!node.dom) return;
      node.dom.errors.replaceChildren();
      node.dom.box.classList.remove("rb-has-error");
      for (const part of Object.values(node.dom.parts)) part.classList.remove("rb-invalid");
    }

    addErrors(node, part, messages) {
      if (!node.dom) return;
      const partName = part.split(/[.[]/)[0];
      const target = node.dom.parts[partName];
      if (target) target.classList.add("rb-invalid");
      node.dom.box.classList.add("rb-has-error");
      const prefix = this.partLabel(node, part);
      for (const message of messages) {
        node.dom.errors.append(el("li", {}, prefix ? `${prefix}: ${message}` : message));
      }
    }

    partLabel(node, part) {
      const item = part.match(/^value\[(\d+)\]/);
      if (item) {
        if (node.operator === "between") return item[1] === "0" ? "From" : "To";
        const value = Array.isArray(node.value) ? node.value[Number(item[1])] : undefined;
        return value === undefined ? "Value" : `Value ${JSON.stringify(value)}`;
      }
      if (part.startsWith("value")) return "Value";
      if (part.startsWith("window")) return "Period";
      if (part === "field") return "Field";
      if (part === "operator") return "Operator";
      if (part === "combinator") return "All or any";
      return "";
    }
  }

  window.SegmentRuleBuilder = SegmentRuleBuilder;
})();

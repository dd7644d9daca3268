/*
 * Journey builder: draws a journey's definition (journeys/definition.py) as a flow and edits
 * it. Plain JavaScript and SVG, no framework, no build step; why, in journeys/admin.py.
 *
 *   const builder = new JourneyBuilder(element, {
 *     definition,                 // the draft's JSON
 *     stats,                      // journey_stats(): per-step numbers on the cards, or null
 *     catalog,                    // event types, segments, channels, roles, stages, date fields
 *     rules,                      // the segment rule builder's groups/fields/operatorLabels/pickers
 *     readOnly, onChange(definition) { ... },
 *   });
 *   builder.load(definition);     // any JSON: what it cannot draw it keeps and writes back
 *   builder.toJSON();
 *   builder.showErrors({"steps.wait.duration": ["A wait must be longer than nothing."]});
 *
 * The flow: the trigger on top, then each step a card, rows by the longest path from the start
 * (so a step two branches meet at sits below both), a column per chain of first branches.
 * Branches are SVG connectors named as the definition names them (yes / no, it happened /
 * timed out, a split's key and percent); a branch that points nowhere ends the journey there
 * and is drawn as a short stub. Every connector has a "+" that inserts a step on it; a card
 * opens its editor in the side panel, where the step's branches are picked from the steps
 * that cannot loop back. Conditions, and the entry and exit rules, embed the segments' rule
 * builder (segments/static/segments/rule-builder.js, window.SegmentRuleBuilder).
 *
 * Errors are the server's (definition_parse, keyed by path): a card shows the first message for
 * its step, the panel shows each under the field its path names.
 */
(function () {
  "use strict";

  const TRIGGER = "__trigger";
  const CARD_W = 262;
  const CARD_H = 138;
  const COL_GAP = 60;
  const ROW_GAP = 100;
  const PAD = 24;
  const KEY_RE = /^[A-Za-z0-9_-]{1,40}$/;
  const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  // Icons from the admin's usual fonts (DejaVu has them all): no icon font to ship.
  const TYPES = {
    send: { label: "Send a message", short: "Send", icon: "✉", branches: ["next"], base: "send" },
    wait: { label: "Wait", short: "Wait", icon: "◷", branches: ["next"], base: "wait" },
    waitForEvent: { label: "Wait for an event", short: "Wait for event", icon: "◎", branches: ["onEvent", "onTimeout"], base: "wait_for_event" },
    condition: { label: "Condition (yes / no)", short: "Condition", icon: "◆", branches: ["yes", "no"], base: "condition" },
    split: { label: "Random split", short: "Split", icon: "⎇", branches: [], base: "split" },
    update: { label: "Update the customer", short: "Update", icon: "✎", branches: ["next"], base: "update" },
    notify: { label: "Notify staff", short: "Notify staff", icon: "☎", branches: ["next"], base: "notify" },
    webhook: { label: "Webhook", short: "Webhook", icon: "⇄", branches: ["next"], base: "webhook" },
    end: { label: "End", short: "End", icon: "■", branches: [], base: "end" },
  };
  const BRANCH_LABELS = { next: "", yes: "yes", no: "no", onEvent: "it happened", onTimeout: "timed out" };
  const CHANNEL_LABELS = { EMAIL: "Email", SMS: "SMS", PUSH: "Push" };
  const STAT_NAMES = [
    ["entered", "entered"], ["waiting", "waiting"], ["completed", "completed"],
    ["exited", "exited"], ["converted", "converted"],
  ];
  const TRIGGER_LABELS = {
    manual: "Only when staff or the API enrol (manual)",
    event: "When an event happens",
    segment: "When someone enters or leaves a segment",
    date: "On a date on the customer",
  };
  const REENTRY_LABELS = {
    ONCE: "Once only",
    AFTER_DAYS: "Again after a number of days",
    ALWAYS: "Every time the trigger fires",
  };

  let uidCounter = 0;
  const nextUid = (prefix) => `${prefix || "jb"}${++uidCounter}`;

  /** document.createElement with properties, listeners and children. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") node.setAttribute("style", value);
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

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
  const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  function durationText(raw) {
    if (!isObject(raw)) return "?";
    const parts = [];
    for (const [unit, word] of [["days", "day"], ["hours", "hour"], ["minutes", "minute"]]) {
      if (typeof raw[unit] === "number" && raw[unit]) parts.push(plural(raw[unit], word));
    }
    return parts.length ? parts.join(" ") : "nothing";
  }

  /** The step's branches in the definition's order: [{ref, label, target}], target null = end. */
  function branchesOf(step) {
    if (!isObject(step)) return [];
    if (step.type === "split") {
      const items = Array.isArray(step.branches) ? step.branches : [];
      return items.map((branch, index) => {
        const item = isObject(branch) ? branch : {};
        const percent = typeof item.percent === "number" ? ` ${item.percent}%` : "";
        return {
          ref: `branches[${index}]`, name: item.key,
          label: `${item.key === undefined ? "?" : item.key}${percent}`,
          target: typeof item.next === "string" ? item.next : null,
        };
      });
    }
    const spec = TYPES[step.type];
    const names = spec ? spec.branches : "next" in step ? ["next"] : [];
    return names.map((name) => ({
      ref: name, name, label: BRANCH_LABELS[name], target: typeof step[name] === "string" ? step[name] : null,
    }));
  }

  class JourneyBuilder {
    constructor(container, options) {
      this.container = container;
      this.catalog = options.catalog || {};
      this.rules = options.rules || {};
      this.readOnly = Boolean(options.readOnly);
      this.onChange = options.onChange || (() => {});
      this.stats = null;
      this.statsBySteps = new Map();
      this.errors = {};
      this.selected = null;
      this.history = [];
      this.ruleBuilders = [];
      this.fieldLabels = new Map((this.rules.fields || []).map((spec) => [spec.name, spec.label]));
      this.def = {};

      container.classList.add("jb");
      this.undoButton = el("button", {
        type: "button", class: "jb-btn jb-btn-quiet jb-undo", disabled: true,
        onclick: () => this.undo(),
      }, "Undo");
      this.toolbar = el("div", { class: "jb-toolbar" },
        el("button", {
          type: "button", class: "jb-btn jb-btn-quiet jb-settings-button",
          onclick: () => this.select(TRIGGER),
        }, "Trigger, goal and rules"),
        this.readOnly ? null : this.undoButton,
        el("span", { class: "jb-spacer" }),
        el("span", { class: "jb-legend" }, this.readOnly
          ? "Click a step to see its settings."
          : "Click a step to edit it; + adds a step on a branch."));
      this.canvas = el("div", { class: "jb-canvas" });
      this.scroller = el("div", { class: "jb-scroller" }, this.canvas);
      this.panel = el("aside", { class: "jb-panel", "aria-live": "polite" });
      container.replaceChildren(this.toolbar, el("div", { class: "jb-layout" }, this.scroller, this.panel));
      document.addEventListener("click", (event) => {
        if (this.menu && !this.menu.contains(event.target) && !event.target.closest(".jb-add")) this.closeMenu();
      });
      document.addEventListener("keydown", (event) => {
        if (event.key === "Escape") this.closeMenu();
      });
      this.setStats(options.stats || null);
      this.load(options.definition || {});
    }

    // --- state -------------------------------------------------------------------------

    load(definition) {
      this.def = isObject(definition) ? clone(definition) : {};
      if (this.selected !== TRIGGER && !(this.selected in this.steps())) this.selected = null;
      this.drawCanvas();
      this.drawPanel();
    }

    toJSON() {
      return clone(this.def);
    }

    steps() {
      return isObject(this.def.steps) ? this.def.steps : {};
    }

    setStats(stats) {
      this.stats = stats;
      this.statsBySteps = new Map(
        (stats && Array.isArray(stats.steps) ? stats.steps : []).map((row) => [row.key, row]));
    }

    /** Something inside a step changed: redraw the cards, keep the panel (and its focus). */
    touch() {
      this.drawCanvas();
      this.onChange(this.toJSON());
    }

    /** A change of shape: remembered for Undo, then everything redrawn. */
    commit(change) {
      const before = JSON.stringify(this.def);
      if (change() === false) return;
      this.history.push(before);
      if (this.history.length > 50) this.history.shift();
      this.undoButton.disabled = false;
      this.drawCanvas();
      this.drawPanel();
      this.onChange(this.toJSON());
    }

    undo() {
      const before = this.history.pop();
      if (before === undefined) return;
      this.def = JSON.parse(before);
      this.undoButton.disabled = this.history.length === 0;
      if (this.selected !== TRIGGER && !(this.selected in this.steps())) this.selected = null;
      this.drawCanvas();
      this.drawPanel();
      this.onChange(this.toJSON());
    }

    select(key) {
      this.selected = key;
      this.closeMenu();
      this.drawCanvas();
      this.drawPanel();
      const focus = this.panel.querySelector("input:not([type=hidden]), select, textarea");
      if (focus && !this.readOnly) focus.focus({ preventScroll: true });
      this.panel.scrollIntoView({ block: "nearest" });
    }

    freshKey(type) {
      const base = (TYPES[type] || { base: "step" }).base;
      const steps = this.steps();
      if (!(base in steps)) return base;
      let n = 2;
      while (`${base}_${n}` in steps) n += 1;
      return `${base}_${n}`;
    }

    newStep(type, target) {
      switch (type) {
        case "send": return { type, channel: "EMAIL", template: "", next: target };
        case "wait": return { type, duration: { days: 1 }, next: target };
        case "waitForEvent": return { type, eventType: "", timeout: { days: 3 }, onEvent: target, onTimeout: target };
        case "condition": return { type, rule: { combinator: "AND", rules: [] }, yes: target, no: target };
        case "split": return {
          type, branches: [{ key: "A", percent: 50, next: target }, { key: "B", percent: 50, next: target }],
        };
        case "update": return { type, addTags: [], next: target };
        case "notify": return { type, title: "", assignTo: "STAFF", next: target };
        case "webhook": return { type, url: "https://", next: target };
        default: return { type: "end" };
      }
    }

    setBranch(parent, ref, target) {
      if (parent === TRIGGER) {
        this.def.start = target;
        return;
      }
      const step = this.steps()[parent];
      const split = ref.match(/^branches\[(\d+)\]$/);
      if (split) step.branches[Number(split[1])].next = target;
      else step[ref] = target;
    }

    /** Keys reachable from the start. */
    reachable() {
      const steps = this.steps();
      const seen = new Set();
      const stack = typeof this.def.start === "string" ? [this.def.start] : [];
      while (stack.length) {
        const key = stack.pop();
        if (seen.has(key) || !(key in steps)) continue;
        seen.add(key);
        for (const branch of branchesOf(steps[key])) if (branch.target !== null) stack.push(branch.target);
      }
      return seen;
    }

    /** Steps from which `key` can be reached (itself included): never a branch target of it. */
    ancestors(key) {
      const steps = this.steps();
      const parents = new Map();
      for (const [from, step] of Object.entries(steps)) {
        for (const branch of branchesOf(step)) {
          if (branch.target === null) continue;
          if (!parents.has(branch.target)) parents.set(branch.target, new Set());
          parents.get(branch.target).add(from);
        }
      }
      const seen = new Set([key]);
      const stack = [key];
      while (stack.length) {
        for (const parent of parents.get(stack.pop()) || []) {
          if (!seen.has(parent)) {
            seen.add(parent);
            stack.push(parent);
          }
        }
      }
      return seen;
    }

    insertStep(parent, ref, target, type) {
      const key = this.freshKey(type);
      const reachableBefore = this.reachable();
      let dropped = [];
      if (type === "end" && target !== null) {
        // An end cuts the branch: what only it led to would hang loose; say so first.
        const probe = JSON.parse(JSON.stringify(this.def));
        const builder = Object.create(JourneyBuilder.prototype);
        builder.def = probe;
        builder.def.steps[key] = { type: "end" };
        JourneyBuilder.prototype.setBranch.call(builder, parent, ref, key);
        const after = builder.reachable();
        dropped = [...reachableBefore].filter((name) => !after.has(name));
        if (dropped.length && !window.confirm(
          `Ending the journey here also removes ${dropped.join(", ")}, which only this branch led to. Go on?`)) return;
      }
      this.commit(() => {
        if (!isObject(this.def.steps)) this.def.steps = {};
        this.def.steps[key] = this.newStep(type, target);
        this.setBranch(parent, ref, key);
        for (const name of dropped) delete this.def.steps[name];
        this.selected = key;
      });
      const focus = this.panel.querySelector("input:not([type=hidden]), select, textarea");
      if (focus) focus.focus({ preventScroll: true });
    }

    deleteStep(key) {
      const steps = this.steps();
      const step = steps[key];
      if (!step) return;
      const first = branchesOf(step)[0];
      const successor = first && first.target !== key ? first.target : null;
      // What the deletion would leave unreachable: only its other branches led there.
      const probe = Object.create(JourneyBuilder.prototype);
      probe.def = clone(this.def);
      JourneyBuilder.prototype.relinkAndRemove.call(probe, key, successor);
      const reachable = probe.reachable();
      const dropped = Object.keys(probe.def.steps || {}).filter((name) => !reachable.has(name)
        && this.reachable().has(name));
      const message = dropped.length
        ? `Delete ${key}? The steps only its other branches led to go too: ${dropped.join(", ")}.`
        : null;
      if (message && !window.confirm(message)) return;
      this.commit(() => {
        this.relinkAndRemove(key, successor);
        for (const name of dropped) delete this.def.steps[name];
        if (!Object.keys(this.def.steps).length || typeof this.def.start !== "string") {
          const endKey = this.freshKey("end");
          this.def.steps[endKey] = { type: "end" };
          if (typeof this.def.start !== "string") this.def.start = endKey;
        }
        this.selected = null;
      });
    }

    /** Everything that led to `key` leads to `successor` instead; then `key` goes. */
    relinkAndRemove(key, successor) {
      const steps = this.def.steps;
      for (const [name, step] of Object.entries(steps)) {
        if (name === key || !isObject(step)) continue;
        for (const branch of branchesOf(step)) {
          if (branch.target === key) this.setBranch(name, branch.ref, successor);
        }
        if (step.ofStep === key) delete step.ofStep;
      }
      if (this.def.start === key) this.def.start = successor;
      delete steps[key];
    }

    renameStep(from, to) {
      const steps = this.steps();
      if (to === from) return null;
      if (!KEY_RE.test(to)) return "A step key is 1 to 40 letters, digits, - or _.";
      if (to in steps) return "Another step already has this key.";
      this.commit(() => {
        const renamed = {};
        for (const [name, step] of Object.entries(steps)) renamed[name === from ? to : name] = step;
        this.def.steps = renamed;
        for (const [name, step] of Object.entries(renamed)) {
          for (const branch of branchesOf(step)) {
            if (branch.target === from) this.setBranch(name, branch.ref, to);
          }
          if (isObject(step) && step.ofStep === from) step.ofStep = to;
        }
        if (this.def.start === from) this.def.start = to;
        // The server's errors named the old key; they come back renamed on the next check.
        const errors = {};
        for (const [path, messages] of Object.entries(this.errors)) {
          errors[path.startsWith(`steps.${from}`) ? `steps.${to}${path.slice(`steps.${from}`.length)}` : path] = messages;
        }
        this.errors = errors;
        this.selected = to;
      });
      return null;
    }

    // --- layout --------------------------------------------------------------------------

    layout() {
      const steps = this.steps();
      const start = typeof this.def.start === "string" && this.def.start in steps ? this.def.start : null;
      const state = new Map();
      const order = [];
      const back = new Set();
      const visit = (key) => {
        state.set(key, 1);
        for (const branch of branchesOf(steps[key])) {
          const target = branch.target;
          if (target === null || !(target in steps)) continue;
          if (state.get(target) === 1) back.add(`${key}|${branch.ref}`);
          else if (!state.has(target)) visit(target);
        }
        state.set(key, 2);
        order.push(key);
      };
      if (start) visit(start);
      const rank = new Map();
      if (start) rank.set(start, 1);
      for (const key of order.reverse()) {
        for (const branch of branchesOf(steps[key])) {
          const target = branch.target;
          if (target === null || !(target in steps) || back.has(`${key}|${branch.ref}`)) continue;
          rank.set(target, Math.max(rank.get(target) || 0, rank.get(key) + 1));
        }
      }
      // Columns: a step's first branch not yet placed continues its column; others open one.
      const col = new Map();
      let maxCol = 0;
      const place = (key, column) => {
        col.set(key, column);
        let continued = false;
        for (const branch of branchesOf(steps[key])) {
          const target = branch.target;
          if (target === null || !(target in steps) || col.has(target)) continue;
          if (!continued) {
            continued = true;
            place(target, column);
          } else {
            maxCol += 1;
            place(target, maxCol);
          }
        }
      };
      if (start) place(start, 0);
      maxCol = this.compact(col, rank);
      let maxRank = Math.max(1, ...rank.values());
      // Steps no path reaches: a row of their own below the flow (the server names them).
      const loose = Object.keys(steps).filter((key) => !rank.has(key));
      if (loose.length) {
        maxRank += 1;
        loose.forEach((key, index) => {
          rank.set(key, maxRank);
          col.set(key, index);
          maxCol = Math.max(maxCol, index);
        });
      }
      rank.set(TRIGGER, 0);
      col.set(TRIGGER, start ? col.get(start) : 0);
      return { rank, col, back, maxCol, maxRank, loose: new Set(loose), start };
    }

    /** Columns opened by side branches are reused by later ones whose rows they do not
     * share (a column holds one chain of first branches, so its rows are one interval), left
     * to right in the order they were opened. Returns the last column used. */
    compact(col, rank) {
      const spans = new Map();
      for (const [key, column] of col) {
        const row = rank.get(key);
        const span = spans.get(column) || { min: row, max: row };
        span.min = Math.min(span.min, row);
        span.max = Math.max(span.max, row);
        spans.set(column, span);
      }
      const used = [[]]; // new column -> the row intervals placed in it
      const moved = new Map([[0, 0]]);
      for (const column of [...spans.keys()].sort((a, b) => a - b)) {
        if (column === 0) {
          used[0].push(spans.get(0));
          continue;
        }
        const span = spans.get(column);
        let target = 1;
        // A gap of a row either side, so the connectors into and out of a chain stay clear.
        while (used[target] && used[target].some((other) => span.min <= other.max + 1 && other.min <= span.max + 1)) target += 1;
        if (!used[target]) used[target] = [];
        used[target].push(span);
        moved.set(column, target);
      }
      for (const [key, column] of col) col.set(key, moved.get(column));
      return used.length - 1;
    }

    // --- the canvas -----------------------------------------------------------------------

    drawCanvas() {
      const steps = this.steps();
      const layout = this.layout();
      this.lastLayout = layout;
      const x = (column) => PAD + column * (CARD_W + COL_GAP);
      const y = (row) => PAD + row * (CARD_H + ROW_GAP);
      const width = x(layout.maxCol + 1) - COL_GAP + PAD;
      const height = y(layout.maxRank + 1) + PAD;
      const occupied = new Set();
      for (const [key, row] of layout.rank) occupied.add(`${layout.col.get(key)}:${row}`);
      const free = (column, from, to) => {
        for (let row = from; row <= to; row += 1) if (occupied.has(`${column}:${row}`)) return false;
        return true;
      };

      const edges = svg("svg", { class: "jb-edges", width, height, "aria-hidden": "true" });
      const defs = svg("defs");
      const marker = svg("marker", {
        id: "jb-arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7",
        orient: "auto-start-reverse",
      });
      marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "jb-arrow" }));
      defs.append(marker);
      edges.append(defs);
      const overlay = [];

      const drawEdges = (parent, branches, column, row) => {
        branches.forEach((branch, index) => {
          const sx = Math.round(x(column) + (CARD_W * (index + 1)) / (branches.length + 1));
          const sy = y(row) + CARD_H;
          const target = branch.target;
          const known = target !== null && target in steps;
          let d;
          let cls = "jb-edge";
          if (!known) {
            d = `M ${sx} ${sy} V ${sy + ROW_GAP - 34}`;
            cls += " jb-edge-end";
            edges.append(svg("circle", { cx: sx, cy: sy + ROW_GAP - 28, r: 6, class: target === null ? "jb-end-dot" : "jb-end-dot jb-missing" }));
            // The label on the outer side, away from the other branches' connectors.
            const left = branches.length > 1 && index < branches.length / 2;
            overlay.push(el("span", {
              class: `jb-end-label${target === null ? "" : " jb-missing"}${left ? " jb-end-left" : ""}`,
              style: `left:${left ? sx - 10 : sx + 10}px;top:${sy + ROW_GAP - 36}px`,
            }, target === null ? "end" : `⚠ no step “${target}”`));
          } else {
            const tc = layout.col.get(target);
            const tr = layout.rank.get(target);
            const tx = x(tc) + CARD_W / 2;
            const ty = y(tr);
            const below = sy + ROW_GAP - 30;
            const above = ty - 30;
            if (layout.back.has(`${parent}|${branch.ref}`) || tr <= row) {
              const gx = x(layout.maxCol + 1) - COL_GAP / 2;
              d = `M ${sx} ${sy} V ${sy + 16} H ${gx} V ${above} H ${tx} V ${ty}`;
              cls += " jb-edge-back";
            } else if (tr === row + 1 || free(tc, row + 1, tr - 1)) {
              d = `M ${sx} ${sy} V ${below} H ${tx} V ${ty}`;
            } else if (free(column, row + 1, tr - 1)) {
              d = `M ${sx} ${sy} V ${above} H ${tx} V ${ty}`;
            } else {
              const gx = x(tc) + CARD_W + COL_GAP / 2;
              d = `M ${sx} ${sy} V ${below} H ${gx} V ${above} H ${tx} V ${ty}`;
            }
          }
          edges.append(svg("path", { d, class: cls, "marker-end": known ? "url(#jb-arrow)" : "" }));
          if (branch.label) {
            // How many left by this branch so far (the engine logs the branch it took).
            const numbers = parent === TRIGGER ? null : this.statsBySteps.get(parent);
            const taken = numbers && numbers.branches ? numbers.branches[branch.name] : undefined;
            overlay.push(el("span", {
              class: "jb-edge-label", style: `left:${sx}px;top:${sy + 4}px`,
              dataset: { branch: branch.ref }, title: taken === undefined ? null : `${taken} took this branch`,
            }, branch.label, taken === undefined ? null : el("span", { class: "jb-taken" }, ` · ${taken.toLocaleString("en-GB")}`)));
          }
          if (!this.readOnly) {
            const where = parent === TRIGGER ? "at the start"
              : `after ${parent}${branch.label ? ` (${branch.label})` : ""}`;
            overlay.push(el("button", {
              type: "button", class: "jb-add", style: `left:${sx}px;top:${sy + (branch.label ? 38 : 26)}px`,
              title: `Add a step ${where}`, "aria-label": `Add a step ${where}`,
              dataset: { parent, branch: branch.ref },
              onclick: (event) => {
                event.stopPropagation();
                this.openMenu(event.currentTarget, parent, branch.ref, known ? target : null);
              },
            }, "+"));
          }
        });
      };

      const cards = [];
      // The trigger, then every step.
      const triggerColumn = layout.col.get(TRIGGER);
      cards.push(this.triggerCard(x(triggerColumn), y(0)));
      drawEdges(TRIGGER, [{ ref: "start", label: "", target: layout.start || (typeof this.def.start === "string" ? this.def.start : null) }], triggerColumn, 0);
      for (const [key, step] of Object.entries(steps)) {
        const column = layout.col.get(key);
        const row = layout.rank.get(key);
        cards.push(this.stepCard(key, step, x(column), y(row), layout.loose.has(key)));
        drawEdges(key, branchesOf(step), column, row);
      }
      if (layout.loose.size) {
        overlay.push(el("span", { class: "jb-loose-label", style: `left:${PAD}px;top:${y(layout.maxRank) - 26}px` },
          "Not connected to the flow: link to these steps or delete them"));
      }
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
      this.canvas.replaceChildren(edges, ...cards, ...overlay);
      if (this.menu) this.canvas.append(this.menu);
    }

    cardErrors(prefixTest) {
      const found = [];
      for (const [path, messages] of Object.entries(this.errors)) {
        if (prefixTest(path)) for (const message of [].concat(messages)) found.push({ path, message });
      }
      return found;
    }

    stepErrors(key) {
      const prefix = `steps.${key}`;
      return this.cardErrors((path) => path === prefix || path.startsWith(`${prefix}.`));
    }

    triggerErrors() {
      return this.cardErrors((path) => !path.startsWith("steps.") && path !== "steps");
    }

    card(props, parts, errors) {
      const card = el("div", {
        class: `jb-card ${props.class || ""}${errors.length ? " jb-has-error" : ""}${this.selected === props.key ? " jb-selected" : ""}`,
        style: `left:${props.x}px;top:${props.y}px;width:${CARD_W}px;height:${CARD_H}px`,
        role: "button", tabindex: "0", "aria-label": props.label,
        dataset: { key: props.key, type: props.type || "" },
        onclick: () => this.select(props.key),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            this.select(props.key);
          }
        },
      }, parts);
      if (errors.length) {
        const first = errors[0];
        const where = this.errorWhere(first.path, props.key);
        card.append(el("div", {
          class: "jb-card-error", title: errors.map((e) => `${e.path}: ${e.message}`).join("\n"),
        }, errors.length > 1 ? el("span", { class: "jb-error-count" }, String(errors.length)) : null,
        where ? `${where}: ${first.message}` : first.message));
      }
      return card;
    }

    /** "duration" for steps.wait.duration on the card of `wait`. */
    errorWhere(path, key) {
      if (key === TRIGGER) return path;
      const rest = path.slice(`steps.${key}`.length).replace(/^\./, "");
      return rest;
    }

    statsRow(numbers) {
      if (!this.stats) return null;
      return el("dl", { class: "jb-stats" }, STAT_NAMES.map(([name, label]) => el("div", {
        class: `jb-stat jb-stat-${name}`, dataset: { stat: name }, title: label,
      }, el("dt", {}, label), el("dd", {}, numbers ? (numbers[name] || 0).toLocaleString("en-GB") : "0"))));
    }

    triggerCard(left, top) {
      const trigger = isObject(this.def.trigger) ? this.def.trigger : {};
      const summary = this.triggerSummary(trigger);
      const extras = [];
      if (isObject(this.def.goal)) extras.push(`goal: ${this.def.goal.eventType || "?"}`);
      if (this.def.entryRule) extras.push("entry rule");
      if (this.def.exitRule) extras.push("exit rule");
      const reentry = isObject(this.def.reentry) ? this.def.reentry.policy : "ONCE";
      extras.push(reentry === "AFTER_DAYS" ? `again after ${this.def.reentry.days} days`
        : reentry === "ALWAYS" ? "re-enters every time" : "once per customer");
      const stats = this.stats;
      return this.card(
        { key: TRIGGER, x: left, y: top, class: "jb-trigger", label: "Trigger and journey settings", type: "trigger" },
        [
          el("div", { class: "jb-card-head" }, el("span", { class: "jb-icon" }, "▶"),
            el("span", { class: "jb-type" }, "Starts when"), el("span", { class: "jb-key" }, trigger.type || "?")),
          el("div", { class: "jb-card-title" }, summary),
          el("div", { class: "jb-card-summary" }, extras.join(" · ")),
          stats ? el("dl", { class: "jb-stats jb-stats-journey" },
            [["enrolled", "enrolled"], ["live", "live"], ["completed", "completed"], ["exited", "exited"], ["converted", "converted"]]
              .map(([name, label]) => el("div", { class: `jb-stat jb-stat-${name}`, dataset: { stat: name }, title: label },
                el("dt", {}, label), el("dd", {}, (stats[name] || 0).toLocaleString("en-GB"))))) : null,
        ],
        this.triggerErrors(),
      );
    }

    triggerSummary(trigger) {
      switch (trigger.type) {
        case "event": return `${trigger.eventType || "an event (choose one)"}${trigger.firstTime ? ", the first time" : ""}`;
        case "segment": {
          const segment = (this.catalog.segments || []).find((s) => s.id === trigger.segmentId);
          return `${trigger.on === "leave" ? "Leaves" : "Enters"} ${segment ? segment.name : "a segment (choose one)"}`;
        }
        case "date": {
          const field = (this.catalog.dateFields || []).find((f) => f.value === trigger.field);
          const offset = Number(trigger.offsetDays || 0);
          const when = offset ? `${Math.abs(offset)} days ${offset < 0 ? "before" : "after"}` : "on";
          return `${when} ${field ? field.label.toLowerCase() : trigger.field || "a date"}, ${trigger.time || "09:00"}`;
        }
        case "manual": return "Staff or the API enrol customers";
        default: return "Choose a trigger";
      }
    }

    stepCard(key, step, left, top, loose) {
      const raw = isObject(step) ? step : {};
      const spec = TYPES[raw.type];
      const { title, summary } = this.describe(raw);
      const typeLabel = raw.type === "send" && CHANNEL_LABELS[raw.channel]
        ? `Send ${CHANNEL_LABELS[raw.channel] === "SMS" ? "an SMS" : CHANNEL_LABELS[raw.channel].toLowerCase()}`
        : spec ? spec.short : `⚠ ${JSON.stringify(raw.type)}`;
      return this.card(
        { key, x: left, y: top, class: `jb-step jb-type-${spec ? raw.type : "unknown"}${loose ? " jb-loose" : ""}`, label: `Step ${key}`, type: raw.type },
        [
          el("div", { class: "jb-card-head" }, el("span", { class: "jb-icon" }, spec ? spec.icon : "?"),
            el("span", { class: "jb-type" }, typeLabel), el("span", { class: "jb-key" }, key)),
          el("div", { class: "jb-card-title" }, typeof raw.label === "string" && raw.label ? raw.label : title),
          el("div", { class: "jb-card-summary" }, typeof raw.label === "string" && raw.label ? [title, summary].filter(Boolean).join(" · ") : summary),
          this.statsRow(this.statsBySteps.get(key)),
        ],
        this.stepErrors(key),
      );
    }

    describe(step) {
      switch (step.type) {
        case "send": {
          const content = isObject(step.content) ? step.content : {};
          return {
            title: step.template ? `Template ${step.template}` : "Choose a template",
            summary: content.subject ? `Subject: ${content.subject}` : Object.keys(step.variables || {}).length ? `${plural(Object.keys(step.variables).length, "variable")}` : "",
          };
        }
        case "wait": {
          if ("duration" in step) return { title: `Wait ${durationText(step.duration)}`, summary: "" };
          if (isObject(step.until)) {
            const days = Array.isArray(step.until.weekdays) && step.until.weekdays.length
              ? step.until.weekdays.map((d) => WEEKDAYS[d] || d).join(", ") : "any day";
            return { title: `Wait until ${step.until.time || "?"}`, summary: days };
          }
          if (isObject(step.untilDate)) {
            const field = (this.catalog.dateFields || []).find((f) => f.value === step.untilDate.field);
            const offset = Number(step.untilDate.offsetDays || 0);
            return {
              title: `Wait until ${field ? field.label.toLowerCase() : "a date"}`,
              summary: `${offset ? `${Math.abs(offset)} days ${offset < 0 ? "before" : "after"}, ` : ""}${step.untilDate.time || "09:00"}`,
            };
          }
          return { title: "Wait (choose how long)", summary: "" };
        }
        case "waitForEvent":
          return {
            title: step.eventType ? `Until ${step.eventType}` : "Choose the event",
            summary: `at most ${durationText(step.timeout)}${step.ofStep ? `, about ${step.ofStep}` : ""}`,
          };
        case "condition": return { title: "Does the customer match?", summary: this.ruleSummary(step.rule) };
        case "split": {
          const items = Array.isArray(step.branches) ? step.branches : [];
          return {
            title: `${items.length}-way split`,
            summary: items.map((b) => (isObject(b) ? `${b.key} ${b.percent}%${b.next === null || b.next === undefined ? " (holdout)" : ""}` : "?")).join(" · "),
          };
        }
        case "update": {
          const parts = [];
          if (Array.isArray(step.addTags) && step.addTags.length) parts.push(`+${step.addTags.join(", +")}`);
          if (Array.isArray(step.removeTags) && step.removeTags.length) parts.push(`−${step.removeTags.join(", −")}`);
          if (step.lifecycleStage) parts.push(`stage ${step.lifecycleStage}`);
          if (step.note) parts.push("a note");
          return { title: "Update the customer", summary: parts.join(" · ") || "Choose what to change" };
        }
        case "notify":
          return { title: step.title || "Give the task a title", summary: `for ${step.assignTo || "STAFF"}` };
        case "webhook": {
          let host = step.url || "";
          try { host = new URL(step.url).host || host; } catch (error) { /* shown as typed */ }
          return { title: "POST the enrolment", summary: host };
        }
        case "end": return { title: "The journey ends", summary: "" };
        default: return { title: "Unknown step type", summary: "" };
      }
    }

    ruleSummary(rule) {
      const describe = (node) => {
        if (!isObject(node)) return "?";
        if ("field" in node) {
          const label = this.fieldLabels.get(node.field) || node.field || "?";
          const operator = (this.rules.operatorLabels || {})[node.operator] || node.operator;
          const value = node.value === undefined ? "" : Array.isArray(node.value) ? node.value.join(", ") : String(node.value);
          const window = isObject(node.window) && node.window.lastDays ? ` in ${node.window.lastDays} days` : "";
          return `${label} ${operator} ${value}${window}`.replace(/\s+/g, " ").trim();
        }
        const children = Array.isArray(node.rules) ? node.rules.map(describe) : [];
        if (!children.length) return "everyone";
        const joined = children.join(node.combinator === "OR" ? " or " : " and ");
        return `${node.not ? "not " : ""}${children.length > 1 && node !== rule ? `(${joined})` : joined}`;
      };
      return describe(rule);
    }

    // --- the add menu ---------------------------------------------------------------------

    openMenu(button, parent, ref, target) {
      this.closeMenu();
      const left = parseFloat(button.style.left) + 16;
      const top = parseFloat(button.style.top) - 8;
      this.menu = el("div", {
        class: "jb-menu", role: "menu", style: `left:${left}px;top:${top}px`,
        "aria-label": "Choose the kind of step",
      }, el("p", { class: "jb-menu-title" }, "Add a step"),
      Object.entries(TYPES).map(([type, spec]) => el("button", {
        type: "button", role: "menuitem", class: "jb-menu-item", dataset: { type },
        onclick: (event) => {
          event.stopPropagation();
          this.closeMenu();
          this.insertStep(parent, ref, target, type);
        },
      }, el("span", { class: "jb-icon" }, spec.icon), spec.label)));
      this.canvas.append(this.menu);
      const first = this.menu.querySelector("button");
      if (first) first.focus();
    }

    closeMenu() {
      if (this.menu) this.menu.remove();
      this.menu = null;
    }

    // --- the side panel -------------------------------------------------------------------

    drawPanel() {
      this.ruleBuilders = [];
      const steps = this.steps();
      let content;
      if (this.selected === TRIGGER) content = this.settingsPanel();
      else if (this.selected !== null && this.selected in steps) content = this.stepPanel(this.selected, steps[this.selected]);
      else {
        content = [
          el("h3", {}, "Edit the journey"),
          el("p", { class: "jb-help" }, this.readOnly
            ? "Click a step (or the trigger at the top) to see how it is set up."
            : "Click a step to edit it, or the trigger at the top for what starts the journey, its goal, exit rule and re-entry. The + on a connector adds a step there."),
          this.problemsList(),
        ];
      }
      this.panel.replaceChildren(...[].concat(content).filter(Boolean));
      if (this.readOnly) {
        for (const control of this.panel.querySelectorAll("input, select, textarea, button:not(.jb-problem)")) control.disabled = true;
      }
      this.applyPanelErrors();
    }

    problemsList() {
      const entries = Object.entries(this.errors);
      if (!entries.length) return null;
      return el("div", { class: "jb-problems" }, el("h4", {}, `${plural(entries.length, "problem")} to fix`),
        el("ul", {}, entries.map(([path, messages]) => {
          const match = path.match(/^steps\.([A-Za-z0-9_-]+)/);
          const key = match && match[1] in this.steps() ? match[1] : path.startsWith("steps") ? null : TRIGGER;
          return el("li", {}, el("button", {
            type: "button", class: "jb-problem", disabled: key === null,
            onclick: () => key !== null && this.select(key),
          }, `${path}: ${[].concat(messages).join(" ")}`));
        })));
    }

    field(path, label, control, help) {
      const controls = [].concat(control);
      const first = controls.find((node) => node instanceof Element && node.matches("input, select, textarea"));
      let labelNode;
      if (first && label) {
        if (!first.id) first.id = nextUid("jb-f");
        labelNode = el("label", { for: first.id }, label);
      } else if (label) labelNode = el("span", { class: "jb-label" }, label);
      return el("div", { class: "jb-field", dataset: { path } }, labelNode,
        el("div", { class: "jb-control" }, controls), help ? el("p", { class: "jb-help" }, help) : null,
        el("ul", { class: "jb-field-errors", role: "alert" }));
    }

    input(value, props, onInput) {
      const input = el("input", { type: "text", ...props });
      input.value = value === undefined || value === null ? "" : String(value);
      input.addEventListener("input", () => onInput(input.value, input));
      return input;
    }

    dropdown(value, options, props, onChange) {
      const select = el("select", props || {}, options.map(([optionValue, label]) => el("option", { value: optionValue }, label)));
      const current = value === undefined || value === null ? "" : String(value);
      if (!options.some(([optionValue]) => optionValue === current)) {
        select.append(el("option", { value: current }, current === "" ? "Choose…" : `⚠ ${current}`));
      }
      select.value = current;
      select.addEventListener("change", () => onChange(select.value, select));
      return select;
    }

    numberInput(value, props, onInput) {
      const input = el("input", { type: "number", class: "jb-number", ...props });
      input.value = typeof value === "number" ? String(value) : "";
      input.addEventListener("input", () => {
        const text = input.value.trim();
        onInput(text === "" ? null : Number(text));
      });
      return input;
    }

    /** A JSON object typed as text, applied while it parses (and {} for nothing). */
    jsonInput(value, onValue) {
      const textarea = el("textarea", { rows: 3, class: "jb-json-input", spellcheck: "false" });
      textarea.value = isObject(value) && Object.keys(value).length ? JSON.stringify(value, null, 2) : "";
      const status = el("span", { class: "jb-local-error" });
      textarea.addEventListener("input", () => {
        const text = textarea.value.trim();
        if (!text) {
          status.textContent = "";
          onValue({});
          return;
        }
        try {
          const parsed = JSON.parse(text);
          if (!isObject(parsed)) throw new Error("give an object, { … }");
          status.textContent = "";
          onValue(parsed);
        } catch (error) {
          status.textContent = `Not valid JSON yet: ${error.message}`;
        }
      });
      return [textarea, status];
    }

    /** Set or remove a key of an object: empty values leave the key out. */
    put(target, key, value) {
      const empty = value === null || value === undefined || value === ""
        || (Array.isArray(value) && !value.length) || (isObject(value) && !Object.keys(value).length);
      if (empty) delete target[key];
      else target[key] = value;
    }

    targetSelect(key, current, onChange) {
      const steps = this.steps();
      const loops = this.ancestors(key);
      const options = [["", "End the journey here"]];
      for (const name of Object.keys(steps)) {
        if (loops.has(name)) continue;
        options.push([name, `${name} (${(TYPES[(steps[name] || {}).type] || { label: "?" }).label.toLowerCase()})`]);
      }
      return this.dropdown(current, options, { class: "jb-target" }, (value) => onChange(value === "" ? null : value));
    }

    branchField(key, step, name, label) {
      return this.field(`steps.${key}.${name}`, label, this.targetSelect(key, step[name], (target) => {
        this.commit(() => {
          step[name] = target;
        });
      }));
    }

    durationEditor(path, value, onValue) {
      const current = isObject(value) ? { ...value } : {};
      const write = () => {
        const out = {};
        for (const unit of ["days", "hours", "minutes"]) {
          if (typeof current[unit] === "number" && current[unit] !== 0) out[unit] = current[unit];
          else if (current[unit] !== undefined && current[unit] !== null && typeof current[unit] !== "number") out[unit] = current[unit];
        }
        if (!Object.keys(out).length) out.days = typeof current.days === "number" ? current.days : 0;
        onValue(out);
      };
      const parts = ["days", "hours", "minutes"].map((unit) => el("span", { class: "jb-unit-input" },
        this.numberInput(current[unit], { min: 0, step: 1, "aria-label": unit.charAt(0).toUpperCase() + unit.slice(1) }, (number) => {
          current[unit] = number === null ? undefined : number;
          write();
        }), el("span", { class: "jb-unit" }, unit)));
      return parts;
    }

    ruleEditor(path, rule, onRule) {
      const mount = el("div", { class: "jb-rule" });
      if (!window.SegmentRuleBuilder) {
        // Without the segment builder the rule is edited as JSON.
        const [textarea, status] = this.jsonInput(rule, (value) => onRule(value));
        mount.append(textarea, status);
        return mount;
      }
      const builder = new window.SegmentRuleBuilder(mount, {
        groups: this.rules.groups || [], fields: this.rules.fields || [],
        operatorLabels: this.rules.operatorLabels || {}, pickers: this.rules.pickers || {},
        readOnly: this.readOnly,
        onChange: (value) => onRule(value),
      });
      builder.load(rule || { combinator: "AND", rules: [] });
      this.ruleBuilders.push({ path, builder });
      return mount;
    }

    stepPanel(key, step) {
      if (!isObject(step)) {
        return [el("h3", {}, `Step ${key}`), el("p", { class: "jb-help" }, "This step is not an object; fix it in the JSON below.")];
      }
      const spec = TYPES[step.type];
      const base = `steps.${key}`;
      const touch = () => this.touch();
      const keyInput = el("input", { type: "text", class: "jb-key-input", value: key, maxlength: 40, spellcheck: "false" });
      const keyStatus = el("span", { class: "jb-local-error" });
      const rename = () => {
        const problem = this.renameStep(key, keyInput.value.trim());
        keyStatus.textContent = problem || "";
      };
      keyInput.addEventListener("change", rename);
      keyInput.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault(); // Enter would submit the admin form
          rename();
        }
      });
      const parts = [
        el("h3", {}, el("span", { class: "jb-icon" }, spec ? spec.icon : "?"), ` ${spec ? spec.label : "Unknown step"}`),
        el("ul", { class: "jb-field-errors jb-step-errors", role: "alert", dataset: { path: base } }),
        this.field(`${base}.__key`, "Step key", [keyInput, keyStatus], "Names the step in the JSON, the analytics and the API."),
        this.field(`${base}.label`, "Label", this.input(step.label, { maxlength: 80, placeholder: "shown on the card" }, (value) => {
          this.put(step, "label", value.trim() ? value : "");
          touch();
        })),
      ];
      const editor = {
        send: () => this.sendEditor(key, step),
        wait: () => this.waitEditor(key, step),
        waitForEvent: () => this.waitForEventEditor(key, step),
        condition: () => this.conditionEditor(key, step),
        split: () => this.splitEditor(key, step),
        update: () => this.updateEditor(key, step),
        notify: () => this.notifyEditor(key, step),
        webhook: () => this.webhookEditor(key, step),
        end: () => [el("p", { class: "jb-help" }, "The customer's journey ends here (completed).")],
      }[step.type];
      if (editor) parts.push(...editor());
      else parts.push(el("p", { class: "jb-help" }, "Unknown step type: change it in the JSON below."));
      if (!this.readOnly) {
        parts.push(el("div", { class: "jb-panel-actions" }, el("button", {
          type: "button", class: "jb-btn jb-btn-danger jb-delete",
          onclick: () => this.deleteStep(key),
        }, "Delete this step")));
      }
      return parts;
    }

    sendEditor(key, step) {
      const base = `steps.${key}`;
      const touch = () => this.touch();
      const content = () => (isObject(step.content) ? step.content : {});
      const channels = this.catalog.channels || ["EMAIL", "SMS", "PUSH"];
      const fields = [
        this.field(`${base}.channel`, "Channel", this.dropdown(step.channel, channels.map((c) => [c, CHANNEL_LABELS[c] || c]), {}, (value) => {
          this.commit(() => {
            step.channel = value; // redrawn: the subject shows for email only
          });
        })),
        this.field(`${base}.template`, "Template", this.input(step.template, { spellcheck: "false", placeholder: "welcome_member" }, (value) => {
          step.template = value.trim();
          touch();
        }), "The Messaging Service template id to send."),
      ];
      if (step.channel === "EMAIL" || "subject" in content()) {
        fields.push(this.field(`${base}.content`, "Subject", this.input(content().subject, { placeholder: "leave empty for the template's own" }, (value) => {
          const next = { ...content() };
          this.put(next, "subject", value);
          this.put(step, "content", next);
          touch();
        })));
      }
      const others = Object.fromEntries(Object.entries(content()).filter(([name]) => name !== "subject"));
      fields.push(
        this.field(`${base}.content`, "Other content", this.pairsEditor(others, (value) => {
          const next = { ...value };
          if (content().subject !== undefined) next.subject = content().subject;
          this.put(step, "content", next);
          touch();
        }), "Overrides for the template's content besides the subject (preheader…)."),
        this.field(`${base}.variables`, "Variables", this.pairsEditor(step.variables, (value) => {
          this.put(step, "variables", value);
          touch();
        }), "Fixed values for the template, beside the customer's own (firstName…)."),
        this.field(`${base}.priority`, "Priority", this.dropdown(step.priority === undefined ? "2" : String(step.priority),
          [["1", "Low"], ["2", "Normal"], ["3", "High"]], {}, (value) => {
            if (value === "2" && step.priority === undefined) return;
            step.priority = Number(value);
            touch();
          }), "Which message wins when the club's frequency cap allows only one."),
        this.branchField(key, step, "next", "Then"),
      );
      return fields;
    }

    /** Name/value rows for a flat object of strings. */
    pairsEditor(value, onValue) {
      const rows = Object.entries(isObject(value) ? value : {}).map(([name, item]) => ({
        name, value: typeof item === "string" ? item : JSON.stringify(item), raw: item,
      }));
      const box = el("div", { class: "jb-pairs" });
      const write = () => {
        const out = {};
        for (const row of rows) if (row.name.trim()) out[row.name.trim()] = row.raw !== undefined && typeof row.raw !== "string" && row.value === JSON.stringify(row.raw) ? row.raw : row.value;
        onValue(out);
      };
      const draw = () => {
        box.replaceChildren(...rows.map((row, index) => el("div", { class: "jb-pair" },
          this.input(row.name, { "aria-label": "Name", placeholder: "name", class: "jb-pair-name" }, (text) => {
            row.name = text;
            write();
          }),
          this.input(row.value, { "aria-label": "Value", placeholder: "value", class: "jb-pair-value" }, (text) => {
            row.value = text;
            write();
          }),
          this.readOnly ? null : el("button", {
            type: "button", class: "jb-btn jb-btn-quiet", "aria-label": "Remove",
            onclick: () => {
              rows.splice(index, 1);
              write();
              draw();
            },
          }, "×"))),
        this.readOnly ? null : el("button", {
          type: "button", class: "jb-btn jb-btn-quiet jb-pair-add",
          onclick: () => {
            rows.push({ name: "", value: "" });
            draw();
            const inputs = box.querySelectorAll(".jb-pair-name");
            inputs[inputs.length - 1].focus();
          },
        }, "+ Add"));
      };
      draw();
      return box;
    }

    waitEditor(key, step) {
      const base = `steps.${key}`;
      const touch = () => this.touch();
      const mode = "until" in step ? "until" : "untilDate" in step ? "untilDate" : "duration";
      const modes = [["duration", "For a while"], ["until", "Until a time of day"], ["untilDate", "Until a date on the customer"]];
      const fields = [this.field(base, "Wait", this.dropdown(mode, modes, { class: "jb-wait-mode" }, (value) => {
        this.commit(() => {
          delete step.duration;
          delete step.until;
          delete step.untilDate;
          if (value === "duration") step.duration = { days: 1 };
          else if (value === "until") step.until = { time: "09:00" };
          else step.untilDate = { field: "renewalDueOn", offsetDays: 0, time: "09:00" };
        });
      }))];
      if (mode === "duration") {
        fields.push(this.field(`${base}.duration`, "How long", this.durationEditor(`${base}.duration`, step.duration, (value) => {
          step.duration = value;
          touch();
        }), "Calendar time in the club's time zone: 3 days keeps the clock time across a daylight-saving change."));
      } else if (mode === "until") {
        const until = isObject(step.until) ? step.until : (step.until = {});
        fields.push(
          this.field(`${base}.until.time`, "Time of day", this.input(until.time, { type: "time", class: "jb-time" }, (value) => {
            until.time = value;
            touch();
          }), "Club time."),
          this.field(`${base}.until.weekdays`, "On", this.weekdayPicker(until.weekdays, (days) => {
            this.put(until, "weekdays", days);
            touch();
          }), "None ticked: the next such time on any day."),
        );
      } else {
        const untilDate = isObject(step.untilDate) ? step.untilDate : (step.untilDate = {});
        fields.push(...this.dateFieldEditors(`${base}.untilDate`, untilDate, touch));
      }
      fields.push(this.branchField(key, step, "next", "Then"));
      return fields;
    }

    dateFieldEditors(path, target, touch) {
      const dateFields = (this.catalog.dateFields || []).map((f) => [f.value, f.label]);
      return [
        this.field(`${path}.field`, "Date", this.dropdown(target.field, dateFields, {}, (value) => {
          target.field = value;
          touch();
        })),
        this.field(`${path}.offsetDays`, "Days before (−) or after", this.numberInput(target.offsetDays, { step: 1, min: -366, max: 366 }, (value) => {
          target.offsetDays = value === null ? 0 : value;
          touch();
        }), "−30: thirty days before the date."),
        this.field(`${path}.time`, "Time of day", this.input(target.time || "09:00", { type: "time", class: "jb-time" }, (value) => {
          target.time = value;
          touch();
        }), "Club time."),
      ];
    }

    weekdayPicker(current, onDays) {
      const chosen = new Set(Array.isArray(current) ? current : []);
      return el("span", { class: "jb-weekdays" }, WEEKDAYS.map((label, index) => {
        const box = el("input", { type: "checkbox", value: String(index) });
        box.checked = chosen.has(index);
        box.addEventListener("change", () => {
          if (box.checked) chosen.add(index);
          else chosen.delete(index);
          onDays([...chosen].sort((a, b) => a - b));
        });
        return el("label", { class: "jb-pill" }, box, label);
      }));
    }

    eventTypeInput(value, onValue) {
      const listId = nextUid("jb-events");
      return [
        this.input(value, { list: listId, spellcheck: "false", placeholder: "scl.member.created", class: "jb-event-type" }, (text) => onValue(text.trim())),
        el("datalist", { id: listId }, (this.catalog.eventTypes || []).map((type) => el("option", { value: type }))),
      ];
    }

    listInput(value, props, onValue) {
      return this.input(Array.isArray(value) ? value.join(", ") : "", props, (text) => {
        onValue(text.split(",").map((item) => item.trim()).filter(Boolean));
      });
    }

    waitForEventEditor(key, step) {
      const base = `steps.${key}`;
      const touch = () => this.touch();
      const sends = Object.entries(this.steps()).filter(([name, other]) => name !== key && isObject(other) && other.type === "send");
      return [
        this.field(`${base}.eventType`, "Event", this.eventTypeInput(step.eventType, (value) => {
          step.eventType = value;
          touch();
        })),
        this.field(`${base}.ofStep`, "About the message sent by", this.dropdown(step.ofStep, [["", "— any —"], ...sends.map(([name]) => [name, name])], {}, (value) => {
          this.put(step, "ofStep", value);
          touch();
        }), "For opens and clicks: only the message that send step sent counts."),
        this.field(`${base}.filters`, "Matching (JSON)", this.jsonInput(step.filters, (value) => {
          this.put(step, "filters", value);
          touch();
        }), 'Optional: what the event must contain, e.g. {"payload": {"channel": "EMAIL"}}.'),
        this.field(`${base}.matchTrigger`, "Same as the trigger's", this.listInput(step.matchTrigger, { placeholder: "competitionId" }, (value) => {
          this.put(step, "matchTrigger", value);
          touch();
        }), "Payload keys whose values must equal the trigger event's (comma-separated)."),
        this.field(`${base}.timeout`, "Wait at most", this.durationEditor(`${base}.timeout`, step.timeout, (value) => {
          step.timeout = value;
          touch();
        })),
        this.branchField(key, step, "onEvent", "If it happens"),
        this.branchField(key, step, "onTimeout", "If it does not"),
      ];
    }

    conditionEditor(key, step) {
      const base = `steps.${key}`;
      return [
        this.field(`${base}.rule`, "Customers who match", this.ruleEditor(`${base}.rule`, step.rule, (rule) => {
          step.rule = rule;
          this.touch();
        }), "Any segment rule, checked when the customer reaches this step."),
        this.branchField(key, step, "yes", "If yes"),
        this.branchField(key, step, "no", "If no"),
      ];
    }

    splitEditor(key, step) {
      const base = `steps.${key}`;
      if (!Array.isArray(step.branches)) step.branches = [];
      const items = step.branches;
      const total = el("span", { class: "jb-split-total" });
      const sum = () => {
        const value = items.reduce((acc, item) => acc + (isObject(item) && typeof item.percent === "number" ? item.percent : 0), 0);
        total.textContent = `Total ${Math.round(value * 100) / 100}%`;
        total.classList.toggle("jb-bad", Math.abs(value - 100) > 1e-9);
      };
      sum();
      const rows = items.map((item, index) => {
        const branch = isObject(item) ? item : {};
        return this.field(`${base}.branches[${index}]`, null, [
          this.input(branch.key, { "aria-label": "Branch key", class: "jb-branch-key", maxlength: 40 }, (value) => {
            branch.key = value.trim();
            this.touch();
          }),
          this.numberInput(branch.percent, { "aria-label": "Percent", min: 0, max: 100, step: "any" }, (value) => {
            branch.percent = value;
            sum();
            this.touch();
          }),
          el("span", { class: "jb-unit" }, "% then"),
          this.targetSelect(key, branch.next, (target) => {
            this.commit(() => {
              branch.next = target;
            });
          }),
          this.readOnly || items.length <= 2 ? null : el("button", {
            type: "button", class: "jb-btn jb-btn-quiet", "aria-label": `Remove branch ${branch.key}`,
            onclick: () => this.commit(() => {
              items.splice(index, 1);
            }),
          }, "×"),
        ]);
      });
      return [
        this.field(`${base}.branches`, "Branches", [el("div", { class: "jb-split-rows" }, rows), total],
          "Customers are shared out at random by these percentages (adding up to 100). A branch that ends the journey is a holdout."),
        this.readOnly || items.length >= 5 ? null : el("button", {
          type: "button", class: "jb-btn jb-btn-quiet jb-add-branch",
          onclick: () => this.commit(() => {
            const used = new Set(items.map((item) => isObject(item) && item.key));
            const letter = "ABCDE".split("").find((candidate) => !used.has(candidate)) || `B${items.length + 1}`;
            items.push({ key: letter, percent: 0, next: null });
          }),
        }, "+ Branch"),
      ];
    }

    updateEditor(key, step) {
      const base = `steps.${key}`;
      const touch = () => this.touch();
      const stages = (this.catalog.lifecycleStages || []).map((s) => [s, s.charAt(0) + s.slice(1).toLowerCase()]);
      const noteBox = el("textarea", { rows: 3, maxlength: 2000 });
      noteBox.value = step.note || "";
      noteBox.addEventListener("input", () => {
        this.put(step, "note", noteBox.value.trim() ? noteBox.value : "");
        touch();
      });
      return [
        this.field(`${base}.addTags`, "Add tags", this.listInput(step.addTags, { placeholder: "welcome-done, new-member" }, (value) => {
          step.addTags = value;
          touch();
        }), "Comma-separated."),
        this.field(`${base}.removeTags`, "Remove tags", this.listInput(step.removeTags, {}, (value) => {
          this.put(step, "removeTags", value);
          touch();
        })),
        this.field(`${base}.lifecycleStage`, "Lifecycle stage", this.dropdown(step.lifecycleStage, [["", "— leave as it is —"], ...stages], {}, (value) => {
          this.put(step, "lifecycleStage", value);
          touch();
        })),
        this.field(`${base}.note`, "Add a note", noteBox, "Written on the customer's timeline."),
        this.branchField(key, step, "next", "Then"),
      ];
    }

    notifyEditor(key, step) {
      const base = `steps.${key}`;
      const touch = () => this.touch();
      const roles = this.catalog.roles || ["STAFF", "MARKETING", "ADMIN"];
      const isRole = step.assignTo === undefined || roles.includes(step.assignTo);
      const email = this.input(isRole ? "" : step.assignTo, { type: "email", placeholder: "pro@club.example", "aria-label": "Staff email" }, (value) => {
        step.assignTo = value.trim();
        touch();
      });
      email.hidden = isRole;
      const body = el("textarea", { rows: 3 });
      body.value = step.body || "";
      body.addEventListener("input", () => {
        this.put(step, "body", body.value);
        touch();
      });
      return [
        this.field(`${base}.title`, "Task", this.input(step.title, { maxlength: 200, placeholder: "Call this member" }, (value) => {
          step.title = value;
          touch();
        }), "Staff see it under Staff tasks, with the customer."),
        this.field(`${base}.body`, "Details", body),
        this.field(`${base}.assignTo`, "For", [this.dropdown(isRole ? step.assignTo || "STAFF" : "@", [...roles.map((r) => [r, `Anyone with the ${r} role`]), ["@", "A staff member (email)"]], {}, (value) => {
          if (value === "@") {
            email.hidden = false;
            step.assignTo = email.value.trim();
            email.focus();
          } else {
            email.hidden = true;
            step.assignTo = value;
          }
          touch();
        }), email]),
        this.branchField(key, step, "next", "Then"),
      ];
    }

    webhookEditor(key, step) {
      const base = `steps.${key}`;
      return [
        this.field(`${base}.url`, "URL", this.input(step.url, { type: "url", spellcheck: "false" }, (value) => {
          step.url = value.trim();
          this.touch();
        }), "POSTs the journey, step, customer and their ids, signed (X-CRM-Signature) like the API's webhooks."),
        this.branchField(key, step, "next", "Then"),
      ];
    }

    settingsPanel() {
      const touch = () => this.touch();
      const def = this.def;
      const trigger = isObject(def.trigger) ? def.trigger : (def.trigger = { type: "manual" });
      const parts = [
        el("h3", {}, el("span", { class: "jb-icon" }, "▶"), " Trigger, goal and rules"),
        el("ul", { class: "jb-field-errors jb-step-errors", role: "alert", dataset: { path: "" } }),
        this.field("trigger.type", "Starts", this.dropdown(trigger.type, Object.entries(TRIGGER_LABELS), { class: "jb-trigger-type" }, (value) => {
          this.commit(() => {
            const segments = this.catalog.segments || [];
            def.trigger = {
              event: { type: "event", eventType: "" },
              segment: { type: "segment", segmentId: segments.length ? segments[0].id : "", on: "enter" },
              date: { type: "date", field: "renewalDueOn", offsetDays: -30, time: "09:00" },
              manual: { type: "manual" },
            }[value] || { type: value };
          });
        })),
      ];
      if (trigger.type === "event") {
        parts.push(
          this.field("trigger.eventType", "Event", this.eventTypeInput(trigger.eventType, (value) => {
            trigger.eventType = value;
            touch();
          })),
          this.field("trigger.filters", "Matching (JSON)", this.jsonInput(trigger.filters, (value) => {
            this.put(trigger, "filters", value);
            touch();
          }), 'Optional, e.g. {"payload": {"tier": "FULL"}}.'),
          this.field("trigger.firstTime", null, el("label", { class: "jb-check" }, (() => {
            const box = el("input", { type: "checkbox" });
            box.checked = trigger.firstTime === true;
            box.addEventListener("change", () => {
              this.put(trigger, "firstTime", box.checked ? true : null);
              touch();
            });
            return box;
          })(), "Only the customer's first such event")),
        );
      } else if (trigger.type === "segment") {
        parts.push(
          this.field("trigger.segmentId", "Segment", this.dropdown(trigger.segmentId, (this.catalog.segments || []).map((s) => [s.id, s.name]), {}, (value) => {
            trigger.segmentId = value;
            touch();
          })),
          this.field("trigger.on", "When someone", this.dropdown(trigger.on || "enter", [["enter", "enters it"], ["leave", "leaves it"]], {}, (value) => {
            trigger.on = value;
            touch();
          })),
        );
      } else if (trigger.type === "date") {
        parts.push(...this.dateFieldEditors("trigger", trigger, touch));
      }
      parts.push(this.field("start", null, null));
      parts.push(...this.optionalRule("entryRule", "Only customers who match can enter", "Checked when the trigger fires."));
      parts.push(...this.optionalRule("exitRule", "Leave the journey when the customer matches", "Checked before every step."));

      const goalBox = el("input", { type: "checkbox", class: "jb-goal-toggle" });
      goalBox.checked = isObject(def.goal);
      goalBox.addEventListener("change", () => this.commit(() => {
        def.goal = goalBox.checked ? { eventType: "" } : null;
      }));
      parts.push(el("h4", {}, "Goal"), this.field("goal", null, el("label", { class: "jb-check" }, goalBox, "Reaching a goal ends the journey and counts as a conversion")));
      if (isObject(def.goal)) {
        const goal = def.goal;
        parts.push(
          this.field("goal.eventType", "Goal event", this.eventTypeInput(goal.eventType, (value) => {
            goal.eventType = value;
            touch();
          })),
          this.field("goal.filters", "Matching (JSON)", this.jsonInput(goal.filters, (value) => {
            this.put(goal, "filters", value);
            touch();
          })),
          this.field("goal.matchTrigger", "Same as the trigger's", this.listInput(goal.matchTrigger, { placeholder: "competitionId" }, (value) => {
            this.put(goal, "matchTrigger", value);
            touch();
          })),
        );
      }
      const reentry = isObject(def.reentry) ? def.reentry : (def.reentry = { policy: "ONCE" });
      parts.push(el("h4", {}, "Entering again and the cap"),
        this.field("reentry.policy", "A customer may enter", this.dropdown(reentry.policy, Object.entries(REENTRY_LABELS), {}, (value) => {
          this.commit(() => {
            def.reentry = value === "AFTER_DAYS" ? { policy: value, days: reentry.days || 365 } : { policy: value };
          });
        }), "A birthday or a renewal reminder that must come round every year needs “again” or “every time”."));
      if (reentry.policy === "AFTER_DAYS") {
        parts.push(this.field("reentry.days", "Days after entering", this.numberInput(reentry.days, { min: 1, max: 3660, step: 1 }, (value) => {
          reentry.days = value;
          touch();
        })));
      }
      parts.push(this.field("maxEnrolments", "At most this many enrolments", this.numberInput(def.maxEnrolments, { min: 1, step: 1, placeholder: "no cap" }, (value) => {
        def.maxEnrolments = value;
        touch();
      }), "Over the journey's life; empty for no cap."));
      return parts;
    }

    optionalRule(name, label, help) {
      const def = this.def;
      const box = el("input", { type: "checkbox", class: `jb-${name}-toggle` });
      box.checked = def[name] !== null && def[name] !== undefined;
      box.addEventListener("change", () => this.commit(() => {
        def[name] = box.checked ? { combinator: "AND", rules: [] } : null;
      }));
      const parts = [this.field(name, null, el("label", { class: "jb-check" }, box, label), help)];
      if (box.checked) {
        parts.push(this.field(`${name}.rules`, null, this.ruleEditor(name, def[name], (rule) => {
          def[name] = rule;
          this.touch();
        })));
      }
      return parts;
    }

    // --- errors ---------------------------------------------------------------------------

    /** The server's errors by path: on the cards, and under the fields of the open panel. */
    showErrors(errors) {
      this.errors = isObject(errors) ? errors : {};
      this.drawCanvas();
      if (this.selected === null) this.drawPanel(); // the list of problems
      else this.applyPanelErrors();
    }

    applyPanelErrors() {
      for (const list of this.panel.querySelectorAll(".jb-field-errors")) list.replaceChildren();
      for (const node of this.panel.querySelectorAll(".jb-invalid")) node.classList.remove("jb-invalid");
      const stepPrefix = this.selected !== null && this.selected !== TRIGGER ? `steps.${this.selected}` : null;
      const mine = (path) => (stepPrefix
        ? path === stepPrefix || path.startsWith(`${stepPrefix}.`)
        : this.selected === TRIGGER && !path.startsWith("steps.") && path !== "steps");
      const wrappers = [...this.panel.querySelectorAll(".jb-field[data-path]")];
      const ruleErrors = new Map(this.ruleBuilders.map((entry) => [entry.path, {}]));
      const fallback = this.panel.querySelector(".jb-step-errors");
      const within = (path, prefix) => prefix !== "" && (path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`));
      for (const [path, messages] of Object.entries(this.errors)) {
        if (!mine(path)) continue;
        const rule = this.ruleBuilders.find((entry) => within(path, entry.path));
        if (rule) {
          const rest = path.slice(rule.path.length).replace(/^\./, "") || "rules";
          ruleErrors.get(rule.path)[rest] = messages;
          const wrapper = wrappers.find((node) => node.contains(rule.builder.container));
          if (wrapper) wrapper.classList.add("jb-invalid");
          continue;
        }
        let best = null;
        for (const wrapper of wrappers) {
          const prefix = wrapper.dataset.path;
          if (within(path, prefix) && (!best || prefix.length > best.dataset.path.length)) best = wrapper;
        }
        const list = best ? best.querySelector(".jb-field-errors") : fallback;
        if (best) best.classList.add("jb-invalid");
        if (!list) continue;
        const rest = best ? path.slice(best.dataset.path.length).replace(/^[.]/, "") : (stepPrefix ? path.slice(stepPrefix.length).replace(/^\./, "") : path);
        for (const message of [].concat(messages)) list.append(el("li", {}, rest ? `${rest}: ${message}` : message));
      }
      for (const entry of this.ruleBuilders) entry.builder.showErrors(ruleErrors.get(entry.path) || {});
    }
  }

  JourneyBuilder.TRIGGER = TRIGGER;
  window.JourneyBuilder = JourneyBuilder;
})();

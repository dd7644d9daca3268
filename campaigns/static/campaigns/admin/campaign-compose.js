// The composer: the audience's live count as segments are ticked, and only the parts of the
// content and schedule steps that apply to what is chosen. Works without it, showing all.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    // A field's error goes once the person changes that field (the server checks it again).
    document.querySelectorAll(".cm-has-error").forEach(function (field) {
      field.addEventListener("input", function () {
        field.classList.remove("cm-has-error");
        var errors = field.querySelector(".cm-field-error");
        if (errors) errors.remove();
      });
    });
    var audience = document.getElementById("step-audience");
    if (audience) {
      var out = document.getElementById("audience-count");
      var timer = null;
      var update = function () {
        var params = new URLSearchParams();
        audience.querySelectorAll("input[name=include]:checked").forEach(function (box) { params.append("include", box.value); });
        audience.querySelectorAll("input[name=exclude]:checked").forEach(function (box) { params.append("exclude", box.value); });
        if (!params.has("include")) { out.textContent = "Tick a segment to see how many people it reaches."; return; }
        out.textContent = "Counting…";
        fetch(audience.dataset.countUrl + "?" + params.toString(), { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (body) { out.textContent = body.label || body.error; })
          .catch(function () { out.textContent = "Could not count just now."; });
      };
      audience.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(update, 200); });
    }
    var content = document.getElementById("step-content");
    if (content) {
      var showChannels = function () {
        content.querySelectorAll(".cm-channel").forEach(function (box) {
          var on = content.querySelector("input[name=channels][value=" + box.dataset.channel + "]");
          box.classList.toggle("cm-hidden", !(on && on.checked));
        });
      };
      // The email text box feeds only the built-in template (data-only-template): with a
      // designed template picked it is hidden, as it would not be sent.
      var body = content.querySelector("[data-only-template]");
      var picker = content.querySelector("select[name=email_template]");
      var showBody = function () {
        if (!body || !picker) return;
        var field = document.getElementById("field-body");
        if (field) field.classList.toggle("cm-hidden", !!picker.value && picker.value !== body.dataset.onlyTemplate);
      };
      // A template's own subject ("Name — Subject" in the list) fills an empty subject A.
      var subject = document.getElementById("id_subject");
      if (picker && subject) picker.addEventListener("change", function () {
        var label = picker.options[picker.selectedIndex] ? picker.options[picker.selectedIndex].text : "";
        var at = label.indexOf(" — ");
        if (!subject.value.trim() && at > 0) subject.value = label.slice(at + 3);
      });
      content.addEventListener("change", function () { showChannels(); showBody(); });
      showChannels();
      showBody();
    }
    var schedule = document.getElementById("step-schedule");
    if (schedule) {
      var showWhen = function () {
        var chosen = schedule.querySelector("input[name=when]:checked");
        schedule.querySelectorAll(".cm-when").forEach(function (box) {
          box.classList.toggle("cm-hidden", !(chosen && chosen.value === box.dataset.when));
        });
        var repeat = schedule.querySelector("select[name=repeat]");
        var weekday = document.getElementById("field-weekday");
        if (repeat && weekday) weekday.classList.toggle("cm-hidden", repeat.value !== "weekly");
      };
      schedule.addEventListener("change", showWhen);
      showWhen();
    }
  });
})();

/* The content calendar (FullCalendar, vendored). The feed gives the club's wall times with no
   offset and the calendar runs in 'UTC' mode, so what is shown is the club's time whatever the
   browser's zone; a drag sends the new wall time back, and the server (post_reschedule)
   decides. A refusal reverts the drag and shows the reason. */
(function () {
  "use strict";

  function pad(n) { return String(n).padStart(2, "0"); }

  function wallTime(date) {
    // In 'UTC' mode a Date's UTC fields are the club's wall clock.
    return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate()) +
      "T" + pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()) + ":00";
  }

  function show(box, text, ok) {
    box.textContent = text;
    box.className = "sc-message " + (ok ? "sc-ok" : "sc-error");
    box.hidden = false;
  }

  function start() {
    var el = document.getElementById("social-calendar");
    if (!el || !window.FullCalendar) { return; }
    var box = document.getElementById("sc-message");
    var canMove = el.dataset.canMove === "1";
    var calendar = new FullCalendar.Calendar(el, {
      timeZone: "UTC",
      initialView: "timeGridWeek",
      firstDay: 1,
      height: "auto",
      nowIndicator: true,
      slotMinTime: "06:00:00",
      slotMaxTime: "23:00:00",
      scrollTime: "08:00:00",
      allDaySlot: false,
      eventTimeFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      slotLabelFormat: { hour: "2-digit", minute: "2-digit", hour12: false },
      dayMaxEvents: 4,
      headerToolbar: { left: "prev,next today", center: "title", right: "timeGridWeek,dayGridMonth" },
      buttonText: { today: "Today", week: "Week", month: "Month" },
      editable: canMove,
      eventDurationEditable: false,
      snapDuration: "00:15:00",
      events: { url: el.dataset.feed, failure: function () { show(box, "The calendar could not be loaded; try again.", false); } },
      eventDidMount: function (info) {
        var p = info.event.extendedProps;
        info.el.title = p.kindLabel + " · " + p.statusLabel + "\n" + info.event.title;
        info.el.dataset.kind = p.kind;
        info.el.dataset.objectId = p.objectId;
        var status = document.createElement("span");
        status.className = "sc-status";
        status.textContent = p.statusLabel;
        var main = info.el.querySelector(".fc-event-title-container, .fc-event-title") || info.el;
        main.appendChild(status);
      },
      eventDrop: function (info) {
        var p = info.event.extendedProps;
        var request = new XMLHttpRequest();
        request.open("POST", el.dataset.move);
        request.setRequestHeader("Content-Type", "application/json");
        request.setRequestHeader("X-CSRFToken", el.dataset.csrf);
        request.onload = function () {
          var answer = {};
          try { answer = JSON.parse(request.responseText); } catch (e) { answer = {}; }
          if (request.status === 200) {
            show(box, info.event.title + ": " + answer.message, true);
            calendar.refetchEvents();
          } else {
            info.revert();
            show(box, "Not moved: " + (answer.message || "the server refused it."), false);
          }
        };
        request.onerror = function () { info.revert(); show(box, "Not moved: no answer from the server.", false); };
        request.send(JSON.stringify({ postId: p.objectId, networks: p.networks, start: wallTime(info.event.start) }));
      }
    });
    calendar.render();
    window.socialCalendar = calendar;
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();

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
      // Dates written the way the club writes them (en-GB: "Tue 8 Dec"; en-US: "Tue, Dec 8").
      locales: [{ code: el.dataset.locale || "en-GB", week: { dow: 1, doy: 4 } }],
      locale: el.dataset.locale || "en-GB",
      views: {
        timeGridWeek: { dayHeaderFormat: { weekday: "short", day: "numeric", month: "short" } },
        dayGridMonth: { dayHeaderFormat: { weekday: "short" } }
      },
      // The day or time under the pointer is where it goes (not under the event's centre).
      useEventCenter: false,
      defaultTimedEventDuration: "01:00",
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
      eventContent: function (arg) {
        // Time and title on top, then what it is and its state, in words.
        var p = arg.event.extendedProps;
        var box = document.createElement("div");
        box.className = "sc-ev";
        var head = document.createElement("div");
        head.className = "sc-ev-head";
        var time = document.createElement("b");
        time.textContent = arg.timeText + " ";
        head.appendChild(time);
        head.appendChild(document.createTextNode(arg.event.title));
        var status = document.createElement("div");
        status.className = "sc-status";
        status.textContent = p.kindLabel + " · " + p.statusLabel;
        box.appendChild(head);
        box.appendChild(status);
        return { domNodes: [box] };
      },
      eventDidMount: function (info) {
        var p = info.event.extendedProps;
        info.el.title = info.event.title + "\n" + p.kindLabel + " · " + p.statusLabel;
        info.el.dataset.kind = p.kind;
        info.el.dataset.objectId = p.objectId;
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

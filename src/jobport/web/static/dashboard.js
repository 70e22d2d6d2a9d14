/* jobport dashboard: live progress of a run over its WebSocket.
 *
 * The run page marks its live section with data-ws="<path>" when the run's
 * type publishes live events. Each message moves the progress bar and the
 * figures at once; the server-rendered section (chunk grid, buttons) is
 * refreshed through htmx at most once a second, and at the end until it shows
 * the end (a single last refresh can be lost).
 * If the socket closes before the run ends, the section is polled instead.
 * No inline script anywhere: the Content-Security-Policy allows none.
 */
(function () {
  "use strict";

  var REFRESH_MS = 1000;
  var ENDED = ["completed", "completed_with_errors", "failed", "cancelled"];

  function number(n) {
    return n === null || n === undefined ? "—" : Math.round(n).toLocaleString("en-US");
  }

  function rate(n) {
    if (n === null || n === undefined) return "—";
    return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
  }

  function duration(s) {
    if (s === null || s === undefined) return "—";
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 60) return s.toFixed(1) + " s";
    var total = Math.round(s), m = Math.floor(total / 60), sec = total % 60;
    if (m < 60) return m + " min " + String(sec).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function show(m) {
    var bar = document.getElementById("run-progress");
    if (bar && m.total) {
      bar.max = m.total;
      bar.value = Math.min(m.processed, m.total);
      setText("run-percent", Math.floor((100 * Math.min(m.processed, m.total)) / m.total) + "%");
    }
    setText("run-processed", number(m.processed));
    if (m.total !== null && m.total !== undefined) setText("run-total", number(m.total));
    setText("run-failed", number(m.failed));
    setText("run-rate", rate(m.rows_per_second));
    setText("run-eta", duration(m.eta_seconds));
  }

  function follow(host) {
    var last = 0, pending = null, finished = false;

    function refresh(now) {
      var live = document.getElementById("live");
      if (!live || !window.htmx) return;
      var wait = now ? 0 : Math.max(0, last + REFRESH_MS - Date.now());
      if (pending !== null) {
        if (!now) return;
        clearTimeout(pending);
      }
      pending = setTimeout(function () {
        pending = null;
        last = Date.now();
        window.htmx.trigger(document.getElementById("live"), "jobport:refresh");
      }, wait);
    }

    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + host.getAttribute("data-ws"));
    socket.onmessage = function (event) {
      var m = JSON.parse(event.data);
      show(m);
      if (m.event === "JobCompleted" || m.event === "JobFailed") {
        finished = true;
        host.removeAttribute("data-ws");
        refresh(true);
        // That refresh can be lost: fired on a panel htmx has not processed yet, or
        // overtaken by an older response still saying "running". Ask until the end shows.
        pollUntilEnded(1000);
      } else if (!m.snapshot) {
        refresh(false);
      }
    };
    socket.onclose = function () {
      if (finished) return;
      // No live events (a proxy without WebSocket support, a restart): poll instead.
      pollUntilEnded(2000);
    };

    function pollUntilEnded(every) {
      var timer = setInterval(function () {
        var live = document.getElementById("live");
        if (!live || ENDED.indexOf(live.getAttribute("data-status")) >= 0) {
          clearInterval(timer);
          return;
        }
        refresh(true);
      }, every);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var host = document.querySelector("[data-ws]");
    if (host && "WebSocket" in window) follow(host);
  });
})();

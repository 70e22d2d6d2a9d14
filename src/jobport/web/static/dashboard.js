/* jobport dashboard: live progress of a run over its WebSocket.
 *
 * The run page marks its live section with data-ws="<path>" when the run's
 * type publishes live events. Each event asks for the server-rendered section
 * again (through htmx, at most every REFRESH_MS): the bar, the figures, the
 * chunk grid and the rejected rows come from one read of the run, so they
 * never disagree (an event moving the bar alone left the grid and the list
 * behind). At the end it asks until the section shows the end (a single last
 * refresh can be lost). If the socket closes before the run ends, the section
 * is polled instead.
 * No inline script anywhere: the Content-Security-Policy allows none.
 */
(function () {
  "use strict";

  var REFRESH_MS = 500;
  var ENDED = ["completed", "completed_with_errors", "failed", "cancelled"];

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

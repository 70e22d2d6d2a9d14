/* jobport dashboard: the import's mapping step.
 *
 * As the choices change, flags a field chosen for two columns (the rows and the
 * alert) and lists the required fields no column fills yet; a submit with a field
 * chosen twice or a required field left out is held back with the alert focused.
 * The server checks the same again: without script the form still works, and a
 * wrong mapping comes back with the same messages.
 * No inline script anywhere: the Content-Security-Policy allows none.
 */
(function () {
  "use strict";

  function setUp(form) {
    var selects = Array.prototype.slice.call(form.querySelectorAll("select[name^='map:']"));
    if (!selects.length) return;
    var missingBox = document.getElementById("mapping-missing");
    var missingList = document.getElementById("mapping-missing-list");
    var twiceBox = document.getElementById("mapping-twice");
    var required = Array.prototype.slice
      .call(selects[0].querySelectorAll("option[data-required]"))
      .map(function (option) {
        return { name: option.value, label: option.textContent.replace(/ \(required\)$/, "") };
      });

    function check() {
      var byField = {};
      selects.forEach(function (select) {
        if (select.value) (byField[select.value] = byField[select.value] || []).push(select);
      });
      var twice = [];
      selects.forEach(function (select) {
        var clash = select.value && byField[select.value].length > 1;
        select.closest("tr").classList.toggle("twice", !!clash);
        if (clash) select.setAttribute("aria-invalid", "true");
        else select.removeAttribute("aria-invalid");
      });
      Object.keys(byField).forEach(function (name) {
        if (byField[name].length > 1) {
          var headers = byField[name].map(function (s) { return s.closest("tr").querySelector("label").textContent; });
          twice.push("\u201c" + name + "\u201d is chosen for " + headers.length + " columns (" + headers.join(", ") + "). ");
        }
      });
      twiceBox.textContent = twice.length ? twice.join("") + "A field takes one column: ignore the others or choose another field." : "";
      twiceBox.hidden = !twice.length;
      var missing = required.filter(function (field) { return !byField[field.name]; });
      missingList.textContent = missing.map(function (field) { return field.label; }).join(", ");
      missingBox.hidden = !missing.length;
      return { twice: twice.length, missing: missing.length };
    }

    selects.forEach(function (select) { select.addEventListener("change", check); });
    form.addEventListener("submit", function (event) {
      var found = check();
      if (found.twice || found.missing) {
        event.preventDefault();
        var box = found.twice ? twiceBox : missingBox;
        box.setAttribute("tabindex", "-1");
        box.focus();
      }
    });
  }

  function start() {
    var form = document.getElementById("mapping-form");
    if (form) setUp(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* jobport review grid: spreadsheet keys over the grid's cells, and saving a row as you leave a cell.
 *
 * Each cell is a text input (the server renders them editable, so the grid works
 * without this script, each row saved by its Save button). With the script:
 *
 * - a cell reached with the keyboard is "selected" (read-only): arrow keys move
 *   between cells, Enter or F2 edits it, typing replaces its text, Delete clears it;
 * - while editing, Enter saves and moves down, Up/Down save and move, Tab saves and
 *   moves right (the browser's own), Escape puts the text back;
 * - a click or a tap edits the cell at once (phones show their keyboard);
 * - leaving a cell whose text changed fires "jobport:save" on it: htmx posts the
 *   row (hx-trigger) and swaps in the row the server validated. Text typed in
 *   another cell of that row while the answer travels is kept across the swap.
 *
 * The bulk form shows only the fields of the chosen fix. No inline script anywhere:
 * the Content-Security-Policy allows none.
 */
(function () {
  "use strict";

  var editing = null;   // the input being edited
  var before = "";      // its text when the edit began
  var pointed = null;   // the input a pointer went down on (edited on focus)
  var carried = null;   // text of an input being edited when its row was swapped

  function isCell(el) {
    return el && el.tagName === "INPUT" && el.hasAttribute("data-col") && el.closest("table.review-grid");
  }
  function locked(input) { return input.getAttribute("data-locked") === "true"; }

  function startEdit(input, text) {
    if (locked(input)) return;
    editing = input;
    before = input.value;
    input.readOnly = false;
    input.classList.add("editing");
    if (text !== undefined) input.value = text;
    var end = input.value.length;
    input.setSelectionRange(end, end);
  }

  function stopEdit(input) {
    if (editing !== input) return;
    editing = null;
    input.readOnly = true;
    input.classList.remove("editing");
  }

  function save(input) {
    if (!locked(input) && input.value !== input.defaultValue && window.htmx) {
      window.htmx.trigger(input, "jobport:save");
    }
  }

  function neighbour(input, rows, cols) {
    var row = input.closest("tr");
    var col = Number(input.getAttribute("data-col"));
    if (rows) {
      var next = rows > 0 ? row.nextElementSibling : row.previousElementSibling;
      return next ? next.querySelector('input[data-col="' + col + '"]') : null;
    }
    return row.querySelector('input[data-col="' + (col + cols) + '"]');
  }

  function go(input, rows, cols) {
    var target = neighbour(input, rows, cols);
    if (target) {
      target.focus();
      target.scrollIntoView({block: "nearest", inline: "nearest"});
    } else if (editing === input) {
      input.blur();   // nowhere to go: leaving the cell saves it
      input.focus();
    }
  }

  var MOVES = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};

  function onKey(event) {
    var input = event.target;
    if (!isCell(input) || event.altKey || event.ctrlKey || event.metaKey) return;
    var key = event.key;
    if (editing === input) {
      if (key === "Enter") { event.preventDefault(); go(input, 1, 0); }
      else if (key === "Escape") { event.preventDefault(); input.value = before; stopEdit(input); }
      else if (key === "ArrowUp" || key === "ArrowDown") { event.preventDefault(); go(input, MOVES[key][0], 0); }
      return;
    }
    if (MOVES[key]) { event.preventDefault(); go(input, MOVES[key][0], MOVES[key][1]); }
    else if (key === "Enter" || key === "F2") { event.preventDefault(); startEdit(input); }
    else if (key === "Delete" || key === "Backspace") { event.preventDefault(); startEdit(input, ""); }
    else if (key.length === 1 && !locked(input)) { event.preventDefault(); startEdit(input, key); }
  }

  function onFocusIn(event) {
    var input = event.target;
    if (!isCell(input)) return;
    if (pointed === input) { pointed = null; startEdit(input); return; }
    if (editing !== input) input.readOnly = true;
  }

  function onFocusOut(event) {
    var input = event.target;
    if (!isCell(input)) return;
    stopEdit(input);
    save(input);
  }

  function onPointer(event) {
    var input = event.target;
    if (!isCell(input)) return;
    if (document.activeElement === input) startEdit(input);
    else pointed = input;
  }

  // A row swapped while one of its cells is being edited: keep what was typed there.
  function beforeSwap(event) {
    var target = event.detail.target;
    if (editing && target && target.contains(editing) && editing.value !== editing.defaultValue) {
      carried = {id: editing.id, value: editing.value, before: before};
    }
  }

  function afterSettle() {
    if (!carried) return;
    var input = document.getElementById(carried.id);
    var was = carried;
    carried = null;
    if (!input || locked(input)) return;
    input.focus();
    startEdit(input, was.value);
    before = was.before;
  }

  // "Failing in active": the link goes to the cell, which may be off to the right of a wide
  // row. Focusing it scrolls it into view and selects it, as the arrow keys would.
  function onClick(event) {
    var link = event.target.closest("a[data-cell]");
    var input = link && document.getElementById(link.getAttribute("data-cell"));
    if (!input) return;
    event.preventDefault();
    input.focus();
  }

  function showFixFields(form) {
    var op = form.querySelector("select[name=op]");
    if (!op) return;
    form.querySelectorAll("[data-ops]").forEach(function (field) {
      field.hidden = field.getAttribute("data-ops").split(" ").indexOf(op.value) < 0;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var grid = document.querySelector("table.review-grid");
    if (grid) {
      document.documentElement.classList.add("review-js");
      grid.addEventListener("keydown", onKey);
      grid.addEventListener("focusin", onFocusIn);
      grid.addEventListener("focusout", onFocusOut);
      grid.addEventListener("pointerdown", onPointer);
      grid.addEventListener("click", onClick);
      grid.addEventListener("dblclick", function (event) { if (isCell(event.target)) startEdit(event.target); });
      document.body.addEventListener("htmx:beforeSwap", beforeSwap);
      document.body.addEventListener("htmx:afterSettle", afterSettle);
    }
    var bulk = document.getElementById("bulk-form");
    if (bulk) {
      showFixFields(bulk);
      bulk.addEventListener("change", function (event) {
        if (event.target.name === "op") showFixFields(bulk);
      });
    }
  });
})();

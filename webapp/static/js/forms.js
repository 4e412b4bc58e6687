// Task forms: a field shown only under a condition on another field (data-show-when-*) is
// hidden, its inputs disabled so that nothing hidden is posted, until the condition holds;
// a table of rows (data-rows) gets an "add a row" button. Without this script every field
// stays visible and the server validates the same conditions.
(function () {
  "use strict";

  function inputsNamed(form, name) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name === name && !el.disabled;
    });
  }

  // The field's current value as the server would read it: a single checkbox is a boolean,
  // radios and selects their chosen value, nothing chosen (or a hidden field) null.
  function valueOf(form, name) {
    var inputs = inputsNamed(form, name);
    if (!inputs.length) { return null; }
    var first = inputs[0];
    if (first.type === "checkbox" && inputs.length === 1) { return first.checked; }
    if (first.type === "radio" || first.type === "checkbox") {
      var chosen = inputs.filter(function (el) { return el.checked; });
      return chosen.length ? chosen[0].value : null;
    }
    return first.value === "" ? null : first.value;
  }

  function holds(form, box) {
    var values;
    try { values = JSON.parse(box.getAttribute("data-show-when-values") || "[]"); } catch (err) { values = []; }
    var current = valueOf(form, box.getAttribute("data-show-when-field"));
    var hit = current !== null && values.some(function (v) { return v === current; });
    return box.hasAttribute("data-show-when-negate") ? !hit : hit;
  }

  function setShown(box, shown) {
    box.hidden = !shown;
    box.querySelectorAll("input, select, textarea").forEach(function (el) { el.disabled = !shown; });
  }

  // Passes until nothing changes: a field hidden hides the fields that depend on it.
  function update(form) {
    var boxes = form.querySelectorAll("[data-show-when-field]");
    for (var pass = 0; pass <= boxes.length; pass += 1) {
      var changed = false;
      boxes.forEach(function (box) {
        var shown = holds(form, box);
        if (box.hidden === shown) { changed = true; }
        setShown(box, shown);
      });
      if (!changed) { break; }
    }
  }

  function tableOf(button) {
    var name = button.getAttribute("data-add-row");
    var tables = button.form ? button.form.querySelectorAll("table[data-rows]") : [];
    return Array.prototype.filter.call(tables, function (t) { return t.getAttribute("data-rows") === name; })[0];
  }

  function full(table) {
    var max = parseInt(table.getAttribute("data-max-items"), 10);
    return !isNaN(max) && table.tBodies[0].rows.length >= max;
  }

  // A copy of the last row, emptied, numbered next (rows are numbered 0..n-1).
  function addRow(button) {
    var table = tableOf(button);
    if (!table || full(table)) { return; }
    var body = table.tBodies[0];
    var last = body.rows[body.rows.length - 1];
    var name = table.getAttribute("data-rows");
    var next = body.rows.length;
    var from = name + "." + last.getAttribute("data-row") + ".";
    var to = name + "." + next + ".";
    var row = last.cloneNode(true);
    row.setAttribute("data-row", String(next));
    row.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
    row.querySelectorAll("[data-field]").forEach(function (cell) {
      cell.setAttribute("data-field", cell.getAttribute("data-field").replace(from, to));
      cell.classList.remove("invalid");
    });
    row.querySelectorAll("input, select, textarea").forEach(function (el) {
      el.name = el.name.replace(from, to);
      if (el.id) { el.id = el.id.replace(from, to); }
      if (el.type === "checkbox" || el.type === "radio") { el.checked = false; } else { el.value = ""; }
      var label = el.getAttribute("aria-label");
      if (label) { el.setAttribute("aria-label", label.replace(/\d+$/, String(next + 1))); }
    });
    body.appendChild(row);
    button.disabled = full(table);
    var first = row.querySelector("input, select, textarea");
    if (first) { first.focus(); }
  }

  document.querySelectorAll("form").forEach(function (form) {
    form.querySelectorAll("button[data-add-row]").forEach(function (button) {
      var table = tableOf(button);
      if (!table) { return; }
      button.hidden = false;
      button.disabled = full(table);
      button.addEventListener("click", function () { addRow(button); });
    });
    if (form.querySelector("[data-show-when-field]")) {
      update(form);
      form.addEventListener("change", function () { update(form); });
    }
  });
})();

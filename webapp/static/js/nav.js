// Loaded in <head>: marks the page as scripted at once (so the phone menu starts folded without
// a flash), then lets the menu button fold and unfold the top bar's links. Tables of class
// "list" and "loans" get their column headings on each cell, shown when a phone stacks the rows.
// A form marked data-once (a numbered letter or bulletin) is sent once: a second click while
// the first is on its way does nothing.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function labelCells(table) {
    var heads = table.querySelectorAll("thead th");
    if (!heads.length) { return; }
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (row) {
      Array.prototype.forEach.call(row.children, function (cell, index) {
        var head = heads[index];
        var label = head ? (head.textContent.trim() || head.getAttribute("aria-label") || "") : "";
        if (label && !cell.hasAttribute("data-label")) { cell.setAttribute("data-label", label); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("menu-toggle");
    var menu = document.getElementById("site-menu");
    if (button && menu) {
      button.addEventListener("click", function () {
        var open = button.getAttribute("aria-expanded") !== "true";
        button.setAttribute("aria-expanded", open ? "true" : "false");
        menu.classList.toggle("open", open);
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll("table.list, table.loans"), labelCells);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-once")) { return; }
    if (form.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    form.setAttribute("aria-busy", "true");
  });
  // back to a page kept by the browser: its forms may be sent again
  window.addEventListener("pageshow", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), function (form) {
      form.removeAttribute("aria-busy");
    });
  });
})();

// Shared by the case page and the replay: the diagram's labels in the UI's language, a first
// view that can be read, and the zoom buttons.
(function () {
  "use strict";
  var BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL";
  var READABLE = 0.8; // below this scale the 12 px labels cannot be read

  // Names read "中文 English" (as webapp.templating.bilingual): keep the UI language's part.
  function bilingual(name, lang) {
    var index = name.search(/[A-Za-z]/);
    if (index < 0) { return name; }
    var zh = name.slice(0, index).trim();
    var en = name.slice(index).trim();
    return lang === "en" ? (en || zh) : (zh || en);
  }

  // The XML with every shown name in one language; lanes named after a unit or a case role
  // (codes such as creditor_bank) get the names in ``lanes``.
  function localize(xml, lang, lanes) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) { return xml; }
    var nodes = doc.getElementsByTagNameNS(BPMN, "*");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var name = node.getAttribute("name");
      if (!name) { continue; }
      if (node.localName === "lane" && Object.prototype.hasOwnProperty.call(lanes, name)) {
        node.setAttribute("name", lanes[name]);
      } else {
        node.setAttribute("name", bilingual(name, lang));
      }
    }
    return new XMLSerializer().serializeToString(doc);
  }

  function noteScale(canvas, container) {
    container.dataset.scale = canvas.zoom().toFixed(3);
  }

  // A scale at which labels can be read, centred on the elements the case waits on (or the
  // last completed ones, or the start); the whole diagram if it fits at that scale.
  function firstView(canvas, registry, container, focus) {
    canvas.zoom("fit-viewport");
    var box = canvas.viewbox();
    if (box.scale >= READABLE) { noteScale(canvas, container); return; }
    var shapes = focus.map(function (id) { return registry.get(id); }).filter(function (el) {
      return el && !el.waypoints && el.type !== "bpmn:SubProcess" && el.type !== "bpmn:Participant";
    });
    // the tasks people wait on, rather than the message starts that wait for a settlement
    var tasks = shapes.filter(function (el) { return /Task$/.test(el.type); });
    if (tasks.length) { shapes = tasks; }
    var x, y;
    if (shapes.length) {
      var minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      shapes.forEach(function (s) {
        minX = Math.min(minX, s.x); minY = Math.min(minY, s.y);
        maxX = Math.max(maxX, s.x + s.width); maxY = Math.max(maxY, s.y + s.height);
      });
      x = (minX + maxX) / 2; y = (minY + maxY) / 2;
      if (maxX - minX > box.outer.width / READABLE || maxY - minY > box.outer.height / READABLE) {
        // too far apart to show together: the first one
        x = shapes[0].x + shapes[0].width / 2; y = shapes[0].y + shapes[0].height / 2;
      }
    } else {
      x = box.inner.x + box.outer.width / READABLE / 2; y = box.inner.y + box.inner.height / 2;
    }
    var width = box.outer.width / READABLE, height = box.outer.height / READABLE;
    canvas.viewbox({ x: x - width / 2, y: y - height / 2, width: width, height: height });
    noteScale(canvas, container);
  }

  function tools(viewer, container) {
    var canvas = viewer.get("canvas");
    var bar = container.previousElementSibling;
    var buttons = bar ? bar.querySelectorAll("[data-zoom]") : [];
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener("click", function () {
        var how = button.dataset.zoom;
        if (how === "fit") { canvas.zoom("fit-viewport", "auto"); }
        else { canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8), "auto"); }
        noteScale(canvas, container);
      });
    });
    viewer.on("canvas.viewbox.changed", function () { noteScale(canvas, container); });
  }

  // Fetches the case's XML, shows it in the UI's language and calls ``ready`` with the viewer.
  function render(container, ready) {
    var viewer = new window.BpmnJS({ container: container });
    var lanes = JSON.parse(container.dataset.lanes || "{}");
    var lang = container.dataset.lang || "zh";
    return fetch(container.dataset.xmlUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(localize(xml, lang, lanes)); })
      .then(function (result) {
        // what bpmn-js could not read (an unresolved reference, an unknown element): the
        // diagram still shows, the count is kept for the tests and the messages logged
        var warnings = (result && result.warnings) || [];
        warnings.forEach(function (w) { console.warn("bpmn-js import: " + w.message); });
        container.dataset.importWarnings = String(warnings.length);
        tools(viewer, container);
        ready(viewer);
        container.dataset.rendered = "true";
      })
      .catch(function (err) {
        container.textContent = container.dataset.error + " (" + err.message + ")";
        container.dataset.rendered = "error";
      });
  }

  window.LiandongDiagram = { render: render, firstView: firstView, bilingual: bilingual };
})();

// Renders the case's diagram with bpmn-js and marks completed and active elements.
(function () {
  "use strict";
  var container = document.getElementById("case-diagram");
  if (!container || !window.BpmnJS) { return; }
  var active = JSON.parse(container.dataset.active || "[]");
  var completed = JSON.parse(container.dataset.completed || "[]");
  var viewer = new window.BpmnJS({ container: container });

  function mark(canvas, registry, ids, cls) {
    ids.forEach(function (id) {
      var element = registry.get(id);
      if (!element) { return; }
      // a subprocess holds the whole case: outline it instead of filling it
      canvas.addMarker(id, element.type === "bpmn:SubProcess" ? cls + "-container" : cls);
    });
  }

  fetch(container.dataset.xmlUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      mark(canvas, registry, completed, "ld-completed");
      mark(canvas, registry, active, "ld-active");
      canvas.zoom("fit-viewport");
      container.dataset.rendered = "true";
    })
    .catch(function (err) {
      container.textContent = container.dataset.error + " (" + err.message + ")";
      container.dataset.rendered = "error";
    });
})();

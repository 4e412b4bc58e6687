// Renders the case's diagram with bpmn-js and marks completed and active elements.
(function () {
  "use strict";
  var container = document.getElementById("case-diagram");
  if (!container || !window.BpmnJS || !window.LiandongDiagram) { return; }
  var active = JSON.parse(container.dataset.active || "[]");
  var completed = JSON.parse(container.dataset.completed || "[]");

  function mark(canvas, registry, ids, cls) {
    ids.forEach(function (id) {
      var element = registry.get(id);
      if (!element) { return; }
      // a subprocess holds the whole case: outline it instead of filling it
      canvas.addMarker(id, element.type === "bpmn:SubProcess" ? cls + "-container" : cls);
    });
  }

  window.LiandongDiagram.render(container, function (viewer) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    mark(canvas, registry, completed, "ld-completed");
    mark(canvas, registry, active, "ld-active");
    window.LiandongDiagram.firstView(canvas, registry, container, active.length ? active : ["start"]);
  });
})();

// The cycle-time heatmap: the case diagram (drawn by diagram.js) with each step coloured by its
// median time (marker ld-heat-0..4) and the median written under it (an overlay).
(function () {
  "use strict";
  var container = document.getElementById("case-diagram");
  if (!container || !window.BpmnJS || !window.LiandongDiagram) { return; }
  var heat = JSON.parse(container.dataset.heat || "{}");

  window.LiandongDiagram.render(container, function (viewer) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var shown = [];
    Object.keys(heat).forEach(function (id) {
      var element = registry.get(id);
      if (!element || element.waypoints) { return; }
      canvas.addMarker(id, "ld-heat-" + heat[id].level);
      var label = document.createElement("div");
      label.className = "heat-label";
      label.dataset.element = id;
      label.textContent = heat[id].label;
      overlays.add(id, "heat", { position: { bottom: -2, left: 0 }, html: label });
      shown.push(id);
    });
    container.dataset.overlays = String(shown.length);
    window.LiandongDiagram.firstView(canvas, registry, container, shown.length ? shown : ["start"]);
  });
})();

// Steps through a case's history on its diagram: highlights, side panel, deep link (?step=N).
(function () {
  "use strict";
  var container = document.getElementById("case-diagram");
  var source = document.getElementById("replay-steps");
  if (!container || !source || !window.BpmnJS) { return; }
  var steps = JSON.parse(source.textContent);
  var slider = document.getElementById("replay-slider");
  var viewer = new window.BpmnJS({ container: container });
  var marked = [];

  function text(id, value) { document.getElementById(id).textContent = value || "—"; }

  function list(id, items) {
    var ul = document.getElementById(id);
    ul.textContent = "";
    if (!items.length) { var li = document.createElement("li"); li.textContent = ul.dataset.empty; ul.appendChild(li); }
    items.forEach(function (node) { var li = document.createElement("li"); li.appendChild(node); ul.appendChild(li); });
  }

  function show(index) {
    var step = steps[index - 1];
    slider.value = String(index);
    text("replay-position", index + " / " + steps.length);
    text("step-kind", step.seq + ". " + step.kind);
    text("step-when", step.when);
    text("step-actor", step.actor);
    text("step-unit", step.unit);
    text("step-task", step.task || step.element);
    text("step-hash", step.hash);
    list("step-changes", Object.keys(step.changes).map(function (key) {
      var change = step.changes[key];
      return document.createTextNode(key + ": " + JSON.stringify(change[0]) + " → " + JSON.stringify(change[1]));
    }));
    list("step-attachments", step.attachments.map(function (a) {
      var link = document.createElement("a"); link.href = a.url; link.textContent = "#" + a.id; return link;
    }));
    document.getElementById("step-data").textContent = JSON.stringify(step.data, null, 2);
    if (container.dataset.rendered === "true") { highlight(step); }
    var url = new URL(window.location.href);
    url.searchParams.set("step", String(index));
    window.history.replaceState(null, "", url.toString());
    container.dataset.step = String(index);
  }

  function highlight(step) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    marked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    marked = [];
    function mark(ids, cls) {
      ids.forEach(function (id) {
        var element = registry.get(id);
        if (!element) { return; }
        var name = element.type === "bpmn:SubProcess" ? cls + "-container" : cls;
        canvas.addMarker(id, name);
        marked.push([id, name]);
      });
    }
    mark(step.completed, "ld-completed");
    mark(step.active, "ld-active");
  }

  slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
  document.getElementById("replay-prev").addEventListener("click", function () {
    show(Math.max(1, parseInt(slider.value, 10) - 1));
  });
  document.getElementById("replay-next").addEventListener("click", function () {
    show(Math.min(steps.length, parseInt(slider.value, 10) + 1));
  });

  show(parseInt(slider.value, 10));
  fetch(container.dataset.xmlUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      viewer.get("canvas").zoom("fit-viewport");
      container.dataset.rendered = "true";
      highlight(steps[parseInt(slider.value, 10) - 1]);
    })
    .catch(function (err) {
      container.textContent = container.dataset.error + " (" + err.message + ")";
      container.dataset.rendered = "error";
    });
})();

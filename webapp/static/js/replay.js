// Steps through a case's history on its diagram: highlights, side panel, deep link (?step=N).
(function () {
  "use strict";
  var container = document.getElementById("case-diagram");
  var source = document.getElementById("replay-steps");
  if (!container || !source || !window.BpmnJS || !window.LiandongDiagram) { return; }
  var steps = JSON.parse(source.textContent);
  var slider = document.getElementById("replay-slider");
  var viewer = null;
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
    text("step-task", step.task || nameOf(step.element));
    text("step-hash", step.hash);
    // [field title, before, after] in the UI's language (webapp/audit/labels.py)
    list("step-changes", (step.shown_changes || []).map(function (change) {
      var colon = document.documentElement.lang === "en" ? ": " : "：";
      return document.createTextNode(change[0] + colon + change[1] + " → " + change[2]);
    }));
    // the files the step recorded, with their hash and whether the stored file still matches it
    list("step-attachments", (step.files && step.files.length ? step.files : step.attachments).map(function (a) {
      var link = document.createElement("a"); link.href = a.url; link.textContent = a.name || "#" + a.id;
      if (!a.sha256) { return link; }
      var item = document.createElement("span");
      item.appendChild(link);
      item.appendChild(document.createTextNode(" SHA-256 " + a.sha256.slice(0, 12) + "… " + a.verdict));
      item.dataset.state = a.state;
      return item;
    }));
    document.getElementById("step-data").textContent = JSON.stringify(step.data, null, 2);
    if (container.dataset.rendered === "true") { highlight(step); }
    var url = new URL(window.location.href);
    url.searchParams.set("step", String(index));
    window.history.replaceState(null, "", url.toString());
    container.dataset.step = String(index);
  }

  // a step without a task names its diagram element (a timer, a gateway) by its label
  function nameOf(id) {
    var element = viewer && id ? viewer.get("elementRegistry").get(id) : null;
    return element && element.businessObject.name ? element.businessObject.name : "";
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
  window.LiandongDiagram.render(container, function (shown) {
    viewer = shown;
    var step = steps[parseInt(slider.value, 10) - 1];
    window.LiandongDiagram.firstView(
      viewer.get("canvas"), viewer.get("elementRegistry"), container, step.active.length ? step.active : ["start"]
    );
    container.dataset.rendered = "true";
    show(parseInt(slider.value, 10));
  });
})();

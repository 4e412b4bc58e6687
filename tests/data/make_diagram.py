"""Small BPMN diagrams for engine tests (a script task with given code, with DI)."""

from __future__ import annotations

from xml.sax.saxutils import escape


def script_diagram(process_id: str, script: str, condition: str | None = None) -> str:
    """start -> script -> (gateway on ``condition``) -> user task -> end."""
    gateway = ""
    flows = ['<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script" />']
    shapes = [
        '<bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" '
        'height="36" /></bpmndi:BPMNShape>',
        '<bpmndi:BPMNShape id="script_di" bpmnElement="script"><dc:Bounds x="180" y="78" width="100" '
        'height="80" /></bpmndi:BPMNShape>',
    ]
    edges = [
        '<bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="118" />'
        '<di:waypoint x="180" y="118" /></bpmndi:BPMNEdge>'
    ]
    after_script = "task"
    if condition is not None:
        after_script = "gw"
        gateway = '<bpmn:exclusiveGateway id="gw" />'
        flows.append(
            f'<bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="task"><bpmn:conditionExpression '
            f'xsi:type="bpmn:tFormalExpression">{escape(condition)}</bpmn:conditionExpression>'
            f"</bpmn:sequenceFlow>"
        )
        shapes.append(
            '<bpmndi:BPMNShape id="gw_di" bpmnElement="gw" isMarkerVisible="true"><dc:Bounds x="300" '
            'y="93" width="50" height="50" /></bpmndi:BPMNShape>'
        )
        edges.append(
            '<bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="350" y="118" />'
            '<di:waypoint x="380" y="118" /></bpmndi:BPMNEdge>'
        )
    flows.append(f'<bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="{after_script}" />')
    flows.append('<bpmn:sequenceFlow id="f4" sourceRef="task" targetRef="end" />')
    shapes.append(
        '<bpmndi:BPMNShape id="task_di" bpmnElement="task"><dc:Bounds x="380" y="78" width="100" '
        'height="80" /></bpmndi:BPMNShape>'
    )
    shapes.append(
        '<bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="520" y="100" width="36" '
        'height="36" /></bpmndi:BPMNShape>'
    )
    edges.append(
        '<bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="280" y="118" />'
        '<di:waypoint x="300" y="118" /></bpmndi:BPMNEdge>'
    )
    edges.append(
        '<bpmndi:BPMNEdge id="f4_di" bpmnElement="f4"><di:waypoint x="480" y="118" />'
        '<di:waypoint x="520" y="118" /></bpmndi:BPMNEdge>'
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="defs_{process_id}" targetNamespace="http://liandong.example/test">
  <bpmn:process id="{process_id}" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:scriptTask id="script" scriptFormat="python">
      <bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>
    {gateway}
    <bpmn:userTask id="task" />
    <bpmn:endEvent id="end" />
    {"".join(flows)}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="p" bpmnElement="{process_id}">
    {"".join(shapes)}{"".join(edges)}
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>"""

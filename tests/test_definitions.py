"""The diagrams and forms as data: valid BPMN with diagram interchange, every form present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from webapp import engine
from webapp.catalog import load

ROOT = Path(__file__).resolve().parent.parent
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
DIAGRAMS = sorted((ROOT / "processes").glob("*.bpmn"))


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_every_flow_element_has_a_shape_or_edge(path):
    tree = etree.parse(str(path))
    drawn = {
        e.get("bpmnElement") for e in tree.xpath("//bpmndi:BPMNShape | //bpmndi:BPMNEdge", namespaces=NS)
    }
    elements = tree.xpath(
        "//bpmn:process//*[@id][self::bpmn:startEvent or self::bpmn:endEvent or "
        "self::bpmn:userTask or self::bpmn:scriptTask or self::bpmn:exclusiveGateway or "
        "self::bpmn:intermediateCatchEvent or self::bpmn:boundaryEvent or self::bpmn:subProcess "
        "or self::bpmn:sequenceFlow or self::bpmn:lane]",
        namespaces=NS,
    )
    missing = [e.get("id") for e in elements if e.get("id") not in drawn]
    assert elements and missing == []


def test_main_diagram_parses_with_validation():
    definition = engine.load_directory(ROOT / "processes", "debt_case")
    assert "review" in definition.element_properties


def test_every_form_a_diagram_names_exists_and_is_a_valid_schema():
    names = set()
    for path in DIAGRAMS:
        tree = etree.parse(str(path))
        names |= set(
            tree.xpath("//spiffworkflow:property[@name='formJsonSchemaFilename']/@value", namespaces=NS)
        )
    assert names
    for name in [*sorted(names), "report.json"]:
        schema = json.loads((ROOT / "forms" / name).read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)


def test_every_lane_is_a_unit_or_a_dynamic_role():
    catalog = load(str(ROOT / "processes"))
    units = catalog.unit_codes()
    for path in DIAGRAMS:
        lanes = etree.parse(str(path)).xpath("//bpmn:lane/@name", namespaces=NS)
        assert lanes
        assert [lane for lane in lanes if lane not in units and lane not in catalog.dynamic_lanes] == []


def test_sanction_catalogue_units_exist():
    catalog = load(str(ROOT / "processes"))
    assert set(catalog.sanctioning_units()) <= catalog.unit_codes()


def test_a_directory_is_read_again_when_a_diagram_changes(tmp_path):
    # the definition of a directory is kept between reports; an edited file must not be missed
    source = (ROOT / "processes" / "debt_case.bpmn").read_text(encoding="utf-8")
    path = tmp_path / "debt_case.bpmn"
    path.write_text(source, encoding="utf-8")
    first = engine.load_directory(tmp_path, "debt_case")
    assert engine.load_directory(tmp_path, "debt_case") is first
    path.write_text(source.replace("Review report", "Review the report", 1), encoding="utf-8")
    second = engine.load_directory(tmp_path, "debt_case")
    assert second.sha256 != first.sha256
    assert "Review the report" in second.bpmn_xml

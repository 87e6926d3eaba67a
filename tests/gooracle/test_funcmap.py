"""The function map is Go's: the same names as istiod's (sprig's TxtFuncMap with Istio's helpers on top), each
with the same Go signature, and the translator knows every one of them."""
from __future__ import annotations

from tests.gooracle.client import Oracle
from workers.templates.funcs import FUNCS, SIGNATURES
from workers.templates.gotemplate import translate


def test_same_function_names_as_istiod(oracle: Oracle) -> None:
    go = oracle.functions()
    assert len(go) > 200
    assert sorted(set(go) - set(FUNCS)) == []  # unknown to us
    assert sorted(set(FUNCS) - set(go)) == []  # ours only


def test_same_signatures_as_istiod(oracle: Oracle) -> None:
    go = oracle.functions()
    different = {name: (SIGNATURES[name].text, sig) for name, sig in go.items() if SIGNATURES[name].text != sig}
    assert different == {}


def test_translator_knows_every_function(oracle: Oracle) -> None:
    for name in oracle.functions():
        translate("t", "{{ if false }}{{ " + name + " }}{{ end }}")  # an unknown function is a TemplateError

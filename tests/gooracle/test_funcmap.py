"""The function map is Go's: the same names as istiod's (sprig's TxtFuncMap with Istio's helpers on top), each
with the same Go signature, and the translator knows every one of them."""
from __future__ import annotations

from tests.gooracle.client import Oracle
from workers.templates.funcs import FUNCS, ISTIO_FUNCS, SIGNATURES, SPRIG_FUNCS
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


def test_sprig_and_istio_maps_are_go_s_own(oracle: Oracle) -> None:
    """Each source on its own, as Go lists it: sprig's TxtFuncMap() (shadowed names included) and Istio's map."""
    sprig, istio = oracle.function_sources()
    assert len(sprig) > 200 and len(istio) > 20
    assert sorted(set(SPRIG_FUNCS) - set(sprig)) == []  # not sprig's
    shadowed = set(sprig) - set(SPRIG_FUNCS)  # sprig's, replaced by Istio's of the same name in istiod's map
    assert shadowed <= set(istio)
    assert sorted(ISTIO_FUNCS) == sorted(istio)
    assert set(FUNCS) == set(sprig) | set(istio)


def test_translator_knows_every_function(oracle: Oracle) -> None:
    sprig, istio = oracle.function_sources()
    for name in {*oracle.functions(), *sprig, *istio}:
        translate("t", "{{ if false }}{{ " + name + " }}{{ end }}")  # an unknown function is a TemplateError

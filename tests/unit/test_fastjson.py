"""fastjson (json's C core without the json package) gives json's exact results."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from minidocker import fastjson
from tests.helpers import REPO

_scalars = hs.one_of(hs.none(), hs.booleans(), hs.integers(), hs.floats(allow_nan=False),
                     hs.text(max_size=8))
_docs = hs.recursive(_scalars, lambda kids: hs.one_of(hs.lists(kids, max_size=4),
                                                      hs.dictionaries(hs.text(max_size=5), kids, max_size=4)),
                     max_leaves=20)


@settings(max_examples=1500, deadline=None)
@given(_docs, hs.sampled_from([None, 2, 4]), hs.booleans(), hs.booleans())
def test_dumps_is_json_dumps(doc, indent, ascii_only, sort_keys):
    for seps in (None, (",", ":")):
        want = json.dumps(doc, indent=indent, ensure_ascii=ascii_only, sort_keys=sort_keys, separators=seps)
        assert fastjson.dumps(doc, indent=indent, ensure_ascii=ascii_only, sort_keys=sort_keys,
                              separators=seps) == want


@settings(max_examples=1500, deadline=None)
@given(_docs, hs.sampled_from([None, 2]))
def test_loads_reads_what_json_wrote(doc, indent):
    text = json.dumps(doc, indent=indent)
    assert fastjson.loads(text) == json.loads(text)
    assert fastjson.loads(" \n" + text + "\n ") == json.loads(text)


def test_special_values_and_keys_as_json_writes_them():
    doc = {1: float("nan"), True: float("inf"), None: [float("-inf"), (1, 2)], 2.5: {}}
    for indent in (None, 2):
        assert fastjson.dumps(doc, indent=indent) == json.dumps(doc, indent=indent)
    assert fastjson.loads("[NaN, Infinity, -Infinity]")[1] == float("inf")
    assert fastjson.loads(b'{"a": "\\u00e9"}') == {"a": "é"}


@pytest.mark.parametrize("bad", ["", "   ", "{", '{"a": 1} x', "[1,]", "{'a': 1}", "nul", '"\x01"'])
def test_not_json_is_a_value_error(bad):
    with pytest.raises(ValueError):
        json.loads(bad)               # the specification
    with pytest.raises(fastjson.JSONDecodeError):
        fastjson.loads(bad)


def test_unserializable_is_a_type_error():
    for indent in (None, 2):
        with pytest.raises(TypeError, match="set"):
            fastjson.dumps({"a": {1}}, indent=indent)


def test_errors_without_the_json_package_loaded():
    """The C scanner needs json.decoder to report errors; fastjson must not depend on it."""
    import subprocess
    import sys
    code = ("import sys\nfrom minidocker import fastjson\n"
            "try:\n    fastjson.loads('{\"a\": ')\nexcept ValueError as e:\n    print(type(e).__name__, e)\n"
            "print(fastjson.loads('[1]'))")
    p = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {repr(REPO)})\n" + code],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["JSONDecodeError Expecting value: line 1 column 7 (char 6)", "[1]"]

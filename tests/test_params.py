"""The expressions JSON (one object of parameter values per image, or null) as the export command
line and the review page read it."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from puppet import params as P


def test_expressions_give_values_nan_for_null_and_the_doubted_readings():
    items = [{"smile": 0.8, "uncertain": True}, None, {"uncertain": 0.9}, {"mouth_open": 0.3, "uncertain": 0.1}, {}]
    values, uncertain = P.parse_expressions(json.dumps(items), 5)
    assert values.shape == (5, P.NUM_PARAMS) and values.dtype == np.float32
    np.testing.assert_array_equal(values[0], P.make(smile=0.8))
    assert np.isnan(values[1]).all()
    np.testing.assert_array_equal(values[[2, 4]], np.stack([P.neutral()] * 2))
    assert uncertain.tolist() == [True, False, True, False, False]


@pytest.mark.parametrize(("text", "message"), [
    ("[{", "not JSON"),
    ('{"smile": 1}', "a JSON list of 2 objects"),
    ("[{}]", "a JSON list of 2 objects"),
    ('[{}, {"grin": 1}]', "image 2: unknown expression parameter 'grin'"),
    ('[{}, [1, 2]]', "image 2: expected an object"),
    ('[{"smile": "wide"}, {}]', "image 1:"),
    ('[{"uncertain": "maybe"}, {}]', "image 1:"),
])
def test_malformed_expressions_are_a_value_error_saying_what(text, message):
    with pytest.raises(ValueError, match=message):
        P.parse_expressions(text, 2)


def test_the_export_command_line_names_the_expressions_file(tmp_path):
    from export.cli import _read_params
    from puppet.sources import SourceError

    path = tmp_path / "expressions.json"
    path.write_text('[{"grin": 1}]')
    with pytest.raises(SourceError, match=re.escape(f"{path}: ") + ".*unknown expression parameter 'grin'"):
        _read_params(path, 1)
    with pytest.raises(SourceError, match="missing.json"):
        _read_params(tmp_path / "missing.json", 1)


def test_a_set_without_shut_eyes_or_an_open_mouth_is_told_what_it_will_not_do():
    sheet = np.stack([P.with_preset(P.neutral(), name) for name in ("rest", "blink", "mouth open")])
    assert P.missing_expressions(sheet) == []
    assert P.missing_expressions(sheet[:1]) == ["shut eyes, so the character will not blink",
                                                "an open mouth, so the character will not talk"]
    winks = np.stack([P.neutral(), P.with_preset(P.neutral(), "wink left"), P.make(mouth_open=0.35)])
    assert P.missing_expressions(winks) == ["the right eye shut, so that eye will not close"]
    assert P.missing_expressions(np.stack([winks[0], P.with_preset(P.neutral(), "wink right")]))[0] == \
        "the left eye shut, so that eye will not close"

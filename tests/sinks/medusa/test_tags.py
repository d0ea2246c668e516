"""Tags as the mapping names them: `[{value}]` (the `objects('value')` filter), plain strings, or ids."""

from __future__ import annotations

import pytest

from etl.sinks.medusa.tags import Tags
from etl.sinks.medusa.terms import Ref


@pytest.mark.parametrize("value, expected", [
    ([{"value": "beauty"}, {"value": "mascara"}], [Ref("beauty", (("value", "beauty"),)),
                                                   Ref("mascara", (("value", "mascara"),))]),
    (["Beauty", 2024], [Ref("Beauty", (("value", "Beauty"),)), Ref("2024", (("value", "2024"),))]),
    ([{"id": "ptag_1"}], [Ref(id="ptag_1")]),
    ([{"value": ""}, "", None, {}], []),
    (None, []),
], ids=["objects('value')", "strings, exactly as given", "an id", "nothing usable", "absent"])
def test_mapped_tags(value, expected):
    assert Tags.refs(value) == expected

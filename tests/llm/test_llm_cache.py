import json

import pytest

from fgkd.llm.cache import ResponseCache


def test_a_valid_json_record_of_the_wrong_shape_is_asked_again(tmp_path):
    cache = ResponseCache(tmp_path)
    request = {"model": "m", "prompt": "p"}
    path = cache.put(request, {"text": "reply"})
    assert cache.get(request) == {"text": "reply"}
    for wrong in ([1, 2], {"request": request}, {"request": request, "response": "just text"}):
        path.write_text(json.dumps(wrong))
        with pytest.warns(UserWarning, match="asked for again"):
            assert cache.get(request) is None

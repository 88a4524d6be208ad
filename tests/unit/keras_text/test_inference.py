"""Request parsing, tokenisation, padding and answer formatting of ``inference.py`` (no TensorFlow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_text.artifact import inference
from keras_text.artifact.inference import Line, PayloadError, pad


def test_pad_left_pads_and_truncates_to_the_first_ids() -> None:
    out = pad([[5, 6], [1, 2, 3, 4, 5], []], 4)
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 0, 5, 6], [1, 2, 3, 4], [0, 0, 0, 0]]


class FakeTokenizer:
    """One id per character (ord % 97 + 2), like a character-level tokenizer."""

    kind = "characters"

    def tokens(self, text: str) -> list[str]:
        return list(text)

    def ids(self, text: str) -> list[int]:
        return [ord(c) % 97 + 2 for c in text]

    def save(self, folder) -> None:
        raise NotImplementedError


@pytest.fixture
def pre() -> inference.Preprocessor:
    return inference.Preprocessor(FakeTokenizer(), ["a", "b", "c"], input_len=5)


def test_preprocessor_encodes_every_text_to_input_len(pre) -> None:
    tokens = pre.encode(["xy", "abcdefgh"])
    assert tokens.shape == (2, 5)
    assert tokens[0, :3].tolist() == [0, 0, 0]
    assert tokens[1].tolist() == [ord(c) % 97 + 2 for c in "abcde"]
    assert pre.pieces("xy") == ["x", "y"]


def test_rank_lists_every_label_most_probable_first(pre) -> None:
    assert pre.rank([0.2, 0.7, 0.1]) == [
        {"label": "b", "prob": 0.7},
        {"label": "a", "prob": 0.2},
        {"label": "c", "prob": 0.1},
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "lines"),
    [
        ('{"q": "電波が悪い"}', "application/json", [Line(("電波が悪い",), False)]),
        ('{"q": ["a", "b"]}', "application/json; charset=utf-8", [Line(("a", "b"), True)]),
        ('{"instances": ["a"]}', "application/json", [Line(("a",), True)]),
        ('{"q": "a"}\n\n{"q": ["b", "c"]}\n', "application/jsonlines", [Line(("a",), False), Line(("b", "c"), True)]),
        # Only \n ends a line: JSON strings may hold U+2028, U+2029 and U+0085 raw
        (
            '{"q": "a\u2028b"}\r\n{"q": "c\x85d\u2029"}\n',
            "application/jsonlines",
            [Line(("a\u2028b",), False), Line(("c\x85d\u2029",), False)],
        ),
    ],
)
def test_parse_body(body: str, content_type: str, lines: list[Line]) -> None:
    assert inference.parse_body(body.encode(), content_type) == lines


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"q": ""}', "application/json", "body: 'q' is empty"),
        (b'{"q": "   "}', "application/json", "body: 'q' is empty"),
        (b'{"text": "a"}', "application/json", "missing key 'q'"),
        (b'{"q": 3}', "application/json", "'q' must be a string, got int"),
        (b'{"q": ["a", null]}', "application/json", "'q'[1] must be a string, got NoneType"),
        (b'{"q": []}', "application/json", "'q' is an empty list"),
        (b'{"instances": "a"}', "application/json", "'instances' must be a list"),
        (b'["a"]', "application/json", "expected a JSON object"),
        (b"\xff\xfe", "application/json", "not valid UTF-8"),
        (b"{broken", "application/json", "body is not valid JSON"),
        (b"", "application/json", "body is empty"),
        (b'{"q": "a"}\n{"q": ""}\n', "application/jsonlines", "line 2: 'q' is empty"),
        (b'{"q": "a"}\n \t\n{"q": ""}\n', "application/jsonlines", "line 3: 'q' is empty"),  # lines as sent
        (b'{"q": "a"}\x0b{"q": "b"}\n', "application/jsonlines", "line 1 is not valid JSON"),  # \v ends no line
        (b'{"q": "a"}', "text/csv", "not supported"),
    ],
)
def test_parse_body_rejects(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        inference.parse_body(body, content_type)


def test_answers_keep_the_request_shape(pre) -> None:
    lines = [Line(("x",), False), Line(("y", "z"), True)]
    texts, line_of, batched = inference.layout(lines)
    assert texts == ["x", "y", "z"]
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.3, 0.6, 0.1]])
    results = inference.answers(pre, line_of, batched, probs)
    assert results[0][0]["label"] == "c"
    assert [r[0]["label"] for r in results[1]] == ["a", "b"]
    body, kind = inference.encode_answers(results, "application/jsonlines", "application/jsonlines")
    assert kind == "application/jsonlines"
    assert [json.loads(line) for line in body.decode().splitlines()] == results
    body, kind = inference.encode_answers(results[:1], "application/json", "application/json")
    assert (json.loads(body), kind) == (results[0], "application/json")

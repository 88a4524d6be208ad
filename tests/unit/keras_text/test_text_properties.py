"""Properties of the text path every request takes: body parsing, tokenisation, ids and padding.

Hypothesis draws the texts and bodies; the word table is a small fixed one, so Sudachi splits real Japanese
and arbitrary Unicode alike and the properties hold for both.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from keras_text.artifact import inference, text_pipeline
from keras_text.artifact.text_pipeline import PAD_ID, UNK_ID, SudachiEncoder
from sm_contract import codecs

WORDS = {"携帯": 2, "の": 3, "電波": 4, "が": 5, "悪い": 6, "京都": 7, "清水寺": 8, "ラーメン": 9}
ENCODER = SudachiEncoder(WORDS)
VOCAB = max(WORDS.values()) + 1
JAPANESE = st.text(alphabet=st.sampled_from("携帯電話の波が悪い京都清水寺ラーメンはおいしいかったです。、！ 　abc1"))
# Any Unicode a JSON body can carry (no lone surrogates: UTF-8 cannot encode them).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
TEXTS = st.one_of(JAPANESE, ANY_TEXT)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(TEXTS)
def test_ids_are_table_ids_or_unknown_and_never_whitespace(text: str) -> None:
    ids = ENCODER.ids(text)
    assert all(i == UNK_ID or i in WORDS.values() for i in ids)
    assert PAD_ID not in ids
    assert all(token.strip() for token in ENCODER.tokens(text))
    assert ENCODER.ids(text) == ids  # deterministic


@SETTINGS
@given(st.lists(TEXTS, min_size=1, max_size=8), st.integers(min_value=1, max_value=40))
def test_encode_left_pads_and_keeps_the_first_ids(texts: list[str], length: int) -> None:
    matrix = text_pipeline.encode(ENCODER, texts, length)
    assert matrix.shape == (len(texts), length) and matrix.dtype == np.int32
    assert ((matrix >= 0) & (matrix < VOCAB)).all()
    for text, row in zip(texts, matrix, strict=True):
        ids = ENCODER.ids(text)[:length]
        padding = length - len(ids)
        assert not row[:padding].any()
        assert row[padding:].tolist() == ids


@SETTINGS
@given(st.lists(TEXTS.filter(str.strip), min_size=1, max_size=5), st.booleans(), st.booleans())
@example(["電波\u2028が悪い", "a\x85b\u2029c", "x\x1cy\x1e"], False, False)  # what str.splitlines splits on
def test_every_valid_body_parses_to_its_texts(texts: list[str], as_list: bool, ascii_only: bool) -> None:
    value = texts if as_list else texts[0]
    lines = inference.parse_body(json.dumps({"q": value}, ensure_ascii=False).encode(), inference.JSON)
    assert lines == [inference.Line(tuple(texts if as_list else texts[:1]), as_list)]
    jsonl = "\n".join(json.dumps({"q": t}, ensure_ascii=ascii_only) for t in texts).encode()
    assert [line.texts for line in inference.parse_body(jsonl, inference.JSONLINES)] == [(t,) for t in texts]


LINE_TEXT = st.text(st.sampled_from('a{}" \n\r\t\v\f\x1c\x1d\x1e\x85\u2028\u2029\u3000'), max_size=60)


@SETTINGS
@given(LINE_TEXT)
def test_json_lines_split_and_count_as_the_server_does(text: str) -> None:
    """inference.py imports nothing of the server, so it keeps its own copy of the one line rule: the same lines,
    the same numbers, and as many as the server's record cap counts."""
    assert inference.json_lines(text) == codecs.lines(text)
    assert len(inference.json_lines(text)) == codecs.count_lines(text.encode())


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["q", "instances", "x"]), inner),
    max_leaves=12,
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.lists(JSON_VALUES.map(json.dumps), max_size=4).map(lambda lines: "\n".join(lines).encode()),
)


@SETTINGS
@given(
    BODIES, st.sampled_from([inference.JSON, inference.JSONLINES, "text/csv", "", "application/json; charset=utf-8"])
)
def test_any_body_parses_or_is_refused_as_the_clients_fault(body: bytes, content_type: str) -> None:
    try:
        lines = inference.parse_body(body, content_type)
    except inference.PayloadError as exc:
        assert 400 <= exc.status_code < 500 and str(exc)
        return
    assert lines and all(line.texts and all(isinstance(t, str) and t.strip() for t in line.texts) for line in lines)


@SETTINGS
@given(st.lists(st.lists(st.floats(0, 1, width=32), min_size=4, max_size=4), min_size=1, max_size=6))
def test_answers_rank_every_label_once(probabilities: list[list[float]]) -> None:
    pre = inference.Preprocessor(ENCODER, ["a", "b", "c", "d"], 8)
    results = inference.answers(pre, list(range(len(probabilities))), [0] * len(probabilities), probabilities)
    for ranked, probs in zip(results, probabilities, strict=True):
        assert sorted(r["label"] for r in ranked) == ["a", "b", "c", "d"]
        assert [r["prob"] for r in ranked] == sorted((r["prob"] for r in ranked), reverse=True)
        assert max(r["prob"] for r in ranked) == round(max(probs), inference.PROB_DECIMALS)


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        (None, inference.JSON),
        ("*/*", inference.JSON),
        ("application/jsonlines", inference.JSONLINES),
        ("image/png, application/json;q=0.5", inference.JSON),
    ],
)
def test_answer_type_follows_accept(accept: str | None, kind: str) -> None:
    assert inference.answer_type(accept) == kind


def test_an_unwritable_accept_is_406() -> None:
    with pytest.raises(inference.NotAcceptable) as raised:
        inference.answer_type("image/png")
    assert raised.value.status_code == 406


@pytest.mark.parametrize(
    ("body", "named"),
    [(b"[" * 100_000 + b"]" * 100_000, "nested too deeply"), (b'{"q": ' + b"9" * 5000 + b"}", "digits")],
)
def test_hostile_json_is_the_clients_fault(body: bytes, named: str) -> None:
    with pytest.raises(inference.PayloadError, match=named):
        inference.parse_body(body, inference.JSON)

"""Pre- and post-processing for AWS's TF Serving container (and keras-text): ``{"q": "text"}`` -> ranked labels.

Written the article's way, with one ``handler`` that builds TF Serving's REST request and POSTs it to
``context.rest_uri`` itself.
"""

import json
import os

import requests
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER = spm.SentencePieceProcessor(model_file=os.path.join(HERE, "tokenizer.model"))
with open(os.path.join(HERE, "labels.json"), encoding="utf-8") as _handle:
    META = json.load(_handle)


def handler(data, context):
    if context.request_content_type.split(";")[0] != "application/json":
        raise ValueError(f"content type {context.request_content_type} is not supported; send application/json")
    text = json.loads(data.read().decode("utf-8"))["q"]
    ids = TOKENIZER.encode(text)[: META["max_len"]]
    tokens = [0] * (META["max_len"] - len(ids)) + ids
    response = requests.post(context.rest_uri, data=json.dumps({"instances": [tokens]}), timeout=60)
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8"))
    probabilities = response.json()["predictions"][0]
    ranked = sorted(zip(META["labels"], probabilities, strict=True), key=lambda pair: -pair[1])
    answer = [{"label": label, "prob": round(prob, 4)} for label, prob in ranked]
    return json.dumps(answer, ensure_ascii=False), "application/json"

"""Handlers in the TF Serving container's style: CSV temperatures in, JSON out (one object per input line)."""

import json


def input_handler(data, context):
    """CSV lines of Celsius values -> TF Serving's REST body."""
    if context.request_content_type != "text/csv":
        raise ValueError(f"send text/csv, not {context.request_content_type}")
    # Lines end at "\n" only, as the server counts them against its record cap.
    lines = [line.strip() for line in data.read().decode("utf-8").split("\n") if line.strip()]
    try:
        values = [float(line) for line in lines]
    except ValueError as exc:
        raise ValueError(f"every line must be one number: {exc}") from None
    return json.dumps({"instances": values})


def output_handler(response, context):
    """TF Serving's predictions -> [{"fahrenheit": ...}, ...], in the request's order."""
    if response.status_code != 200:
        raise ValueError(response.content.decode("utf-8"))
    predictions = response.json()["predictions"]
    return json.dumps([{"fahrenheit": round(p, 2)} for p in predictions]), "application/json"

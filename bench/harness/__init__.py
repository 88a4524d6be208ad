"""The shared benchmark harness: containers, wrk load, interleaved rounds, trained models and JSON results."""

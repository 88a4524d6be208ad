"""The image's server: any TF Serving ``model.tar.gz`` (our own model is one) served as AWS's container serves it."""

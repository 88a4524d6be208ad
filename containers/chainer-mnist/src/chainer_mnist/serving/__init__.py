"""The image's server: the built-in model's handler, and Chainer's serving defaults for users' modules."""

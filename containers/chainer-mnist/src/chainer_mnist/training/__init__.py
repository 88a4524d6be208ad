"""The built-in training job: channels, the epoch loop on one or several hosts (ChainerMN), the model."""

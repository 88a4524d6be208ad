"""``python -m keras_text.training``: the built-in trainer as a program, the form a multi-host job starts on
every host (the image's launcher gives each its ``TF_CONFIG``)."""

import sys

from keras_text.training.job import train
from sm_contract.training import run_training

if __name__ == "__main__":
    sys.exit(run_training(train))

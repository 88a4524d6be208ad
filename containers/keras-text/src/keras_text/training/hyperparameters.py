"""The built-in trainer's hyperparameters: defaults, types and bounds (every key a string in SageMaker's file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from keras_text.artifact import text_pipeline
from sm_contract import hyperparameters
from sm_contract.errors import ConfigurationError


@dataclass(frozen=True)
class Hyperparameters:
    epochs: int = 30
    batch_size: int = 32
    hidden: int = 64
    validation_split: float = 0.1
    input_len: int = 64
    # sudachi: SudachiPy words and the pretrained chiVe vectors (frozen by default); sentencepiece: pieces and
    # word2vec vectors trained on `train` in the job (or both from the embeddings channel).
    tokenizer: Literal["sudachi", "sentencepiece"] = "sudachi"
    word_forms: str = "normalized"  # sudachi: forms looked up in the vectors' table, in order
    vocab_size: int = 3000
    embedding_dim: int = 100
    learning_rate: float = 0.001  # nadam's
    learning_rate_decay: float = 1.0  # the learning rate is multiplied by this after every epoch
    patience: int = 3  # epochs without a better val_accuracy before early stopping
    dropout: float = 0.1  # before the softmax layer
    lstm_dropout: float = 0.0  # on the LSTMs' inputs (the attention's output)
    attention_width: int = 0  # words each word attends to, centred on it; 0: the whole text
    mask_padding: bool = False  # the LSTMs skip the padding ids instead of reading them as words
    class_weights: Literal["none", "balanced"] = "none"  # balanced: each label weighs as much in the loss
    # After early stopping (or `epochs`), the best weights train on with the embedding unfrozen, at a lower rate,
    # for at most this many epochs; early stopping goes on, so they are kept only if val_accuracy improves.
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 0.0001
    character_coverage: float = 0.9995  # SentencePiece: share of characters kept as pieces of their own
    w2v_window: int = 5
    w2v_epochs: int = 10
    freeze_embeddings: str = "auto"  # auto: frozen only for pretrained vectors (chiVe or the embeddings channel)
    seed: int = 0
    model_version: int = 1

    def validate(self) -> None:
        for name in (
            "epochs",
            "batch_size",
            "hidden",
            "input_len",
            "embedding_dim",
            "model_version",
            "w2v_window",
            "w2v_epochs",
            "patience",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be >= 1")
        for name in ("attention_width", "fine_tune_epochs"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be >= 0")
        if self.input_len > text_pipeline.MAX_CHARS:
            raise ConfigurationError(f"hyperparameter 'input-len' must be <= {text_pipeline.MAX_CHARS}")
        if self.vocab_size < 16:
            raise ConfigurationError("hyperparameter 'vocab-size' must be >= 16")
        for name in ("learning_rate", "fine_tune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be > 0")
        if not 0.0 < self.learning_rate_decay <= 1.0:
            raise ConfigurationError("hyperparameter 'learning-rate-decay' must be in (0, 1]")
        if not 0.0 < self.character_coverage <= 1.0:
            raise ConfigurationError("hyperparameter 'character-coverage' must be in (0, 1]")
        for name in ("dropout", "lstm_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigurationError(f"hyperparameter '{hyperparameters.key_of(name)}' must be in [0, 1)")
        if not 0.0 <= self.validation_split < 1.0:
            raise ConfigurationError("hyperparameter 'validation-split' must be in [0, 1)")
        if self.freeze_embeddings.lower() not in ("auto", "true", "false"):
            raise ConfigurationError(
                f"hyperparameter 'freeze-embeddings'={self.freeze_embeddings!r} must be true, false or auto"
            )
        if not self.forms or not set(self.forms) <= set(text_pipeline.FORMS):
            raise ConfigurationError(
                f"hyperparameter 'word-forms'={self.word_forms!r} must list some of {', '.join(text_pipeline.FORMS)}"
            )

    @property
    def forms(self) -> tuple[str, ...]:
        return tuple(f.strip() for f in self.word_forms.split(",") if f.strip())

    def frozen(self, pretrained: bool) -> bool:
        choice = self.freeze_embeddings.lower()
        return pretrained if choice == "auto" else choice == "true"

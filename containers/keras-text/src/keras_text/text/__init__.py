"""Tokenizers and word vectors at training time: Sudachi words with chiVe, or SentencePiece with word2vec."""

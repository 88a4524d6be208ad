"""The built-in training job: channels, tokenizer and embeddings, the loop on one or several hosts, the export."""

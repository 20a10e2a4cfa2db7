"""Token shards: the manifest the tokenizer writes and the trainer checks before reading a token."""

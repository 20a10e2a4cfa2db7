"""Reading, extraction, the Ray runner and the writer: how a document travels through a run."""

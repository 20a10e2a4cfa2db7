"""Document filters in RefinedWeb's order: URL, language, Gopher repetition and quality, line-wise."""

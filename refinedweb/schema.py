"""Column names and drop reasons: the one place every stage, the runner and the report agree on.

A batch between stages is a ``pyarrow.Table`` whose columns are named here. A stage returns the same
rows in the same order with its signal columns added and ``DROP_REASON`` set (null = kept), so
thresholds can be re-tuned from the Parquet and every dropped row carries exactly one reason.
"""

# --- document columns (written to the output Parquet) ------------------------------------------
ID = "id"  # WARC-Record-ID (or a stable hash where a record has none)
URL = "url"  # WARC-Target-URI, `<...>` wrapping removed
DATE = "date"  # WARC-Date as written in the record (ISO 8601 where the record is well formed)
SOURCE = "source"  # the input file the record came from
HTML = "html"  # decoded HTML (str); null for WET records, dropped after extraction
TEXT = "text"  # extracted (or WET) text; null before extraction
LANGUAGE = "language"  # fastText lid.176 top label, e.g. "en"
LANGUAGE_SCORE = "language_score"  # probability of that label

# --- token shard columns (refinedweb tokenize; the trainer reads them) ----------------------------
INPUT_IDS = "input_ids"  # list<uint16|uint32>: a document's token ids, end-of-text token appended

# --- runner-owned column -------------------------------------------------------------------------
DROP_REASON = "drop_reason"  # null for kept rows, else one of the reasons below
ROW = "_row"  # position of the record in its input file: shards keep input order whatever the workers
FILE_META = "_file_meta"  # JSON of the reader's per-file counters, on one extra row after a file's records
SCREENED = "_screened"  # true where the language screen ruled a page out before extraction (filters/screen.py)

# --- signal columns ------------------------------------------------------------------------------
# URL filter (RefinedWeb App. G.1)
URL_SOFT_WORDS = "url_soft_words"  # number of soft-banned words in the URL
URL_MATCH = "url_match"  # the list entry (domain, URL prefix or word) that made the URL filter drop a row
# Extraction
HTML_BYTES = "html_bytes"  # size of the HTML payload in bytes
# Gopher repetition (Rae et al. 2021, Table A1)
DUP_LINE_FRAC = "dup_line_frac"
DUP_PARA_FRAC = "dup_para_frac"
DUP_LINE_CHAR_FRAC = "dup_line_char_frac"
DUP_PARA_CHAR_FRAC = "dup_para_char_frac"
TOP_NGRAM_CHAR_FRAC = {n: f"top_{n}gram_char_frac" for n in (2, 3, 4)}
DUP_NGRAM_CHAR_FRAC = {n: f"dup_{n}gram_char_frac" for n in range(5, 11)}
# Gopher quality (Rae et al. 2021, App. A)
WORD_COUNT = "word_count"
MEAN_WORD_LENGTH = "mean_word_length"
HASH_RATIO = "hash_to_word_ratio"
ELLIPSIS_RATIO = "ellipsis_to_word_ratio"
BULLET_LINE_FRAC = "bullet_line_frac"
ELLIPSIS_LINE_FRAC = "ellipsis_line_frac"
ALPHA_WORD_FRAC = "alpha_word_frac"
STOP_WORD_COUNT = "stop_word_count"
# RefinedWeb line-wise corrections (App. G.2)
LINES_REMOVED = "lines_removed"  # lines removed or edited
LINES_REMOVED_WORD_FRAC = "lines_removed_word_frac"  # share of the document's words they held

# PII anonymisation (filters/pii.py): replacements per document; the stage drops nothing
PII_EMAILS = "pii_emails"
PII_IPS = "pii_ips"
PII_PHONES = "pii_phones"

# --- drop reasons ----------------------------------------------------------------------------------
# reading (pipeline/warc.py)
WARC_NOT_RESPONSE = "warc_not_response"  # warcinfo, request, metadata, revisit records
HTTP_NOT_200 = "http_status_not_200"
NOT_HTML = "not_html"  # payload is not HTML (image, PDF, plain text ...)
WARC_RECORD_ERROR = "warc_record_error"  # body could not be read or decoded
EMPTY_PAYLOAD = "empty_payload"
# URL filter (filters/url.py)
URL_BLOCKLISTED_DOMAIN = "url_blocklisted_domain"
URL_BLOCKLISTED_URL = "url_blocklisted_url"
URL_BANNED_SUBWORD = "url_banned_subword"
URL_BANNED_WORD = "url_banned_word"
URL_SOFT_BANNED_WORDS = "url_soft_banned_words"
URL_CURATED_SOURCE = "url_curated_source"
# extraction (pipeline/extract.py)
EXTRACT_HTML_TOO_LARGE = "extract_html_too_large"
EXTRACT_TIMEOUT = "extract_timeout"
EXTRACT_ERROR = "extract_error"
EXTRACT_EMPTY = "extract_empty"
EXTRACT_DISABLED = "extract_disabled"  # extraction switched off: HTML pages have no text
# language ID (filters/language.py)
LANGUAGE_NOT_TARGET = "language_not_target"
LANGUAGE_LOW_SCORE = "language_score_too_low"
LANGUAGE_SCREENED_OUT = "language_screened_out"  # clearly not a target language from the HTML: not extracted
# Gopher repetition (filters/repetition.py)
GOPHER_DUP_LINES = "gopher_duplicate_lines"
GOPHER_DUP_PARAS = "gopher_duplicate_paragraphs"
GOPHER_DUP_LINE_CHARS = "gopher_duplicate_line_chars"
GOPHER_DUP_PARA_CHARS = "gopher_duplicate_paragraph_chars"
GOPHER_TOP_NGRAM = {n: f"gopher_top_{n}gram_chars" for n in (2, 3, 4)}
GOPHER_DUP_NGRAM = {n: f"gopher_duplicate_{n}gram_chars" for n in range(5, 11)}
# Gopher quality (filters/quality.py)
GOPHER_TOO_FEW_WORDS = "gopher_too_few_words"
GOPHER_TOO_MANY_WORDS = "gopher_too_many_words"
GOPHER_WORDS_TOO_SHORT = "gopher_mean_word_length_too_short"
GOPHER_WORDS_TOO_LONG = "gopher_mean_word_length_too_long"
GOPHER_HASH_RATIO = "gopher_too_many_hashes"
GOPHER_ELLIPSIS_RATIO = "gopher_too_many_ellipses"
GOPHER_BULLET_LINES = "gopher_too_many_bullet_lines"
GOPHER_ELLIPSIS_LINES = "gopher_too_many_ellipsis_lines"
GOPHER_TOO_FEW_ALPHA_WORDS = "gopher_too_few_alpha_words"
GOPHER_TOO_FEW_STOP_WORDS = "gopher_too_few_stop_words"
# RefinedWeb line-wise corrections (filters/lines.py)
LINES_TOO_MUCH_REMOVED = "lines_removed_too_many_words"
# deduplication over all shards of a run (refinedweb/dedup/, RefinedWeb App. G.3)
DEDUP_MINHASH_DUPLICATE = "dedup_minhash_duplicate"  # in a MinHash cluster whose kept member comes first
DEDUP_EXACT_TOO_SHORT = "dedup_exact_too_short"  # fewer than 20 non-duplicate characters left after cutting
DEDUP_URL_DUPLICATE = "dedup_url_duplicate"  # the same URL (fragment stripped) came earlier

# The columns every output shard starts with; signal columns follow.
OUTPUT_BASE_COLUMNS = (ID, URL, DATE, SOURCE, TEXT, LANGUAGE, LANGUAGE_SCORE)

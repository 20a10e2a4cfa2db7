"""Charsets: labels as browsers read them, declared and detected charsets, HTML sniffing."""

from __future__ import annotations

from refinedweb.pipeline.charset import codec_for, html_to_utf8, sniff_html


def decode_html(body: bytes, http_charset: str | None = None) -> str:
    """The test's view of ``html_to_utf8``: the payload as ``str``."""
    return html_to_utf8(body, http_charset).decode("utf-8")


def test_charset_from_http_header_meta_and_detection():
    text = "Größe und Übermaß – naïve café"
    assert decode_html(text.encode("cp1252"), "windows-1252") == text
    assert decode_html('<meta charset="iso-8859-1"><p>Größe und Übermaß'.encode("latin-1"), None).endswith("Größe und Übermaß")
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=x-sjis"><p>日本語のテキストです</p>'
    assert "日本語のテキストです" in decode_html(meta.encode("cp932"), None)
    assert decode_html(f"<p>{text}</p>".encode("utf-8"), "ISO-8859-1") == f"<p>{text}</p>"  # mislabeled UTF-8
    japanese = ("<html><body><p>" + "これは文字コードの宣言がない日本語のページです。東京の天気は晴れです。" * 20 + "</p></body></html>")
    assert "東京の天気は晴れです" in decode_html(japanese.encode("euc_jp"), None)  # detected, nothing declared
    assert decode_html(b"\xef\xbb\xbf<p>bom</p>", "windows-1252") == "<p>bom</p>"
    assert decode_html(b"<p>caf\xe9</p>", "no-such-charset") == "<p>café</p>"


def test_codec_labels():
    assert codec_for("x-sjis") == "cp932"
    assert codec_for("EUC-JP") == "euc_jp"
    assert codec_for("'windows-1252'") == "cp1252"
    assert codec_for("gb2312") == "gb18030"
    assert codec_for("koi8-r") == "koi8-r"
    assert codec_for("base64") is None and codec_for("rot13") is None  # codecs, but not text encodings
    assert codec_for("klingon") is None and codec_for("") is None


def test_sniff_html():
    assert sniff_html(b"\xef\xbb\xbf  <!DOCTYPE html><html>") and sniff_html(b"<HTML>") and sniff_html(b"<p>hi")
    assert not sniff_html(b"<?xml version='1.0'?><rss>") and sniff_html(b"<?xml version='1.0'?><html xmlns='x'>")
    assert not sniff_html(b"%PDF-1.7") and not sniff_html(b"<path d='x'/>") and not sniff_html(b"")


def test_meta_charset_overrides_a_default_latin1_http_header():
    page = '<html><head><meta charset="windows-1251"></head><body>Стратегия пожарной безопасности</body></html>'
    assert "Стратегия пожарной безопасности" in decode_html(page.encode("cp1251"), "ISO-8859-1")
    assert "Стратегия" not in decode_html(page.encode("cp1251"), "koi8-r")  # a specific HTTP charset wins

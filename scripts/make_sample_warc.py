#!/usr/bin/env python3
"""Write the demo's sample WARC: ~200 Common-Crawl-style records, deterministic, from Python's own docs.

    python scripts/make_sample_warc.py --output demo/sample.warc.gz [--pages 66] [--seed 2023]

The demo must run where the real web data is absent, and nothing may be downloaded, so the sample
is made here from text every machine has: the docstrings of the standard library (real English
prose), wrapped in the boilerplate every web page carries (cookie banner, navigation, "Read more"
links, footer). Laid out as Common Crawl writes it: one warcinfo, then per capture a request, a
response and a metadata record. So that each pipeline stage has something to remove, it also holds
pages in German, French and Spanish (one in ISO-8859-1, one gzip-encoded), exact and near
duplicates, keyword-stuffed spam, URLs with adult words, a 404, a redirect, a PNG and a page whose
type is declared nowhere (the reader must sniff it).

Same Python version and seed, same bytes: record ids, dates and addresses come from the seeded
generator and warcio writes gzip members without a timestamp. (The prose follows the installed
Python's docstrings, so another Python version gives other, equally valid, text.)
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import inspect
import io
import json
import random
import re
import struct
import sys
import uuid
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

CRAWL = "CC-MAIN-2023-23"
START = datetime(2023, 6, 1, 4, 12, 0, tzinfo=timezone.utc)
MODULES = (
    "logging", "doctest", "typing", "inspect", "urllib.parse", "statistics", "difflib", "shutil", "tempfile",
    "threading", "re", "subprocess", "smtplib", "socket", "tokenize", "traceback", "ipaddress", "timeit",
    "itertools", "collections", "json", "textwrap", "http.client", "unittest", "heapq", "pathlib", "shelve",
    "tarfile", "weakref", "argparse", "asyncio", "calendar", "csv", "dataclasses", "decimal", "email", "enum",
    "fractions", "functools", "hashlib", "pickle", "queue", "random", "sqlite3", "string", "zipfile",
)
SITES = (
    ("www.pythonjournal.example.com", "The Python Journal", ("Home", "Tutorials", "Library", "Newsletter", "About")),
    ("notes.codecraft.example.org", "CodeCraft Notes", ("Start here", "Articles", "Podcast", "Shop", "Contact")),
    ("blog.devcorner.example.net", "Dev Corner", ("Blog", "Topics", "Events", "Jobs", "Login")),
    ("learn.snakepit.example.com", "Snakepit Learning", ("Courses", "Guides", "Community", "Pricing", "Sign in")),
)
TITLES = (
    "A practical guide to Python's {module} module (part {part})",
    "Understanding {module}: notes from the field, part {part}",
    "What I wish I had known about {module} ({part})",
    "The {module} module explained, chapter {part}",
)
AUTHORS = ("Maria Keller", "James Okafor", "Lena Novak", "Tom Brandt", "Aisha Rahman", "Pedro Alves")
ADULT_URLS = (
    "http://www.free-porn-tube.example.net/videos/latest.html",
    "http://xxx-camgirl-live.example.com/",
    "http://www.hot-webcam-nude.example.org/gallery/naked-sex-chat.html",
)
SPAM_LINES = (
    "Buy cheap replica watches online best price free shipping worldwide.",
    "Best cheap watches online, replica watches for sale, cheap luxury watches discount.",
    "Click here to buy cheap watches now!!! Limited offer, best price guaranteed.",
    "Cheap watches cheap watches cheap watches best replica watches online store.",
)

# Hand-written text in other languages (the stdlib only documents itself in English).
FOREIGN = {
    "de": (
        ("Brot backen mit Sauerteig", (
            "Wer einmal ein eigenes Sauerteigbrot gebacken hat, möchte kaum noch zum Bäcker gehen. Der Teig braucht "
            "zwar Zeit, aber kaum Arbeit: Mehl, Wasser, Salz und ein aktiver Ansatz genügen.",
            "Am Abend wird der Vorteig angesetzt und über Nacht an einem warmen Ort stehen gelassen. Am nächsten "
            "Morgen riecht er leicht säuerlich und hat kleine Blasen gebildet. Dann wird der Hauptteig geknetet.",
            "Nach dem Formen ruht der Laib noch einmal zwei bis drei Stunden. Im vorgeheizten Ofen bäckt er zuerst "
            "mit Dampf, damit die Kruste aufreißen kann, und danach trocken, bis sie dunkel und knusprig ist.",
        )),
        ("Mit dem Fahrrad durch die Stadt", (
            "Immer mehr Menschen fahren in der Stadt mit dem Fahrrad zur Arbeit. Sie sparen Geld, bleiben in "
            "Bewegung und stehen morgens nicht im Stau. Viele Städte bauen deshalb neue Radwege.",
            "Wichtig ist ein gut eingestelltes Rad: Die Bremsen müssen greifen, das Licht muss funktionieren und "
            "der Sattel sollte so hoch sein, dass das Bein beim Treten fast gestreckt ist.",
            "Wer im Winter fährt, braucht warme Handschuhe und Reifen mit gutem Profil. Bei Glatteis lässt man das "
            "Rad besser stehen und nimmt die Straßenbahn.",
        )),
    ),
    "fr": (
        ("Une promenade le long de la Loire", (
            "La Loire est le plus long fleuve de France. Ses rives, bordées de châteaux et de vignobles, attirent "
            "chaque année des milliers de promeneurs et de cyclistes venus du monde entier.",
            "Le matin, la brume se lève lentement au-dessus de l'eau et les bancs de sable apparaissent. Les hérons "
            "guettent les poissons tandis que les premiers bateaux quittent le port.",
            "Au village, on s'arrête volontiers dans un café pour goûter un verre de vin blanc et une tarte aux "
            "pommes. Les habitants racontent alors volontiers l'histoire des crues d'autrefois.",
        )),
        ("Apprendre à jardiner sur un balcon", (
            "Même sans jardin, il est possible de cultiver des herbes aromatiques et des tomates. Un balcon bien "
            "exposé suffit, à condition de choisir des pots assez profonds et une bonne terre.",
            "Il faut arroser tôt le matin ou le soir, jamais en plein soleil. En été, un paillage léger garde "
            "l'humidité et protège les racines de la chaleur.",
            "Au bout de quelques semaines, le basilic et la menthe parfument déjà la cuisine. Les enfants aiment "
            "beaucoup observer les plantes pousser et récolter eux-mêmes les fraises.",
        )),
    ),
    "es": (
        ("La historia del chocolate", (
            "El cacao se cultivaba en América mucho antes de la llegada de los europeos. Los mayas y los aztecas "
            "preparaban con sus semillas una bebida amarga que se tomaba en ceremonias importantes.",
            "En el siglo dieciséis el chocolate llegó a España, donde se le añadió azúcar y canela. Poco a poco se "
            "convirtió en una bebida de moda en las cortes de toda Europa.",
            "Hoy el chocolate se produce sobre todo en África occidental. Muchas organizaciones trabajan para que "
            "los agricultores reciban un precio justo por su cosecha.",
        )),
        ("Consejos para aprender un idioma", (
            "Aprender un idioma nuevo requiere constancia más que talento. Es mejor estudiar veinte minutos cada "
            "día que varias horas una vez por semana.",
            "Escuchar la radio, ver películas con subtítulos y leer noticias sencillas ayuda a acostumbrar el oído "
            "y a ampliar el vocabulario sin darse cuenta.",
            "Lo más importante es hablar desde el principio, aunque se cometan errores. Los nativos suelen agradecer "
            "el esfuerzo y corrigen con paciencia.",
        )),
    ),
}


@dataclass
class Capture:
    """One fetched URL: its HTTP status and headers, its payload, and how it is labelled."""

    url: str
    body: bytes
    status: str = "200 OK"
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload_type: str | None = "text/html"  # WARC-Identified-Payload-Type; None: header absent
    language: str = "en"


def prose_paragraphs(module_name: str) -> list[str]:
    """Prose paragraphs of a stdlib module's docstrings (its own and its public members')."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:  # a Python built without e.g. sqlite3
        return []
    docs = [inspect.getdoc(module)]
    with warnings.catch_warnings():  # deprecated aliases (typing.re ...) warn when their doc is read
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, obj in sorted(vars(module).items()):
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj)):
                if getattr(obj, "__module__", None) == module.__name__:
                    docs.append(inspect.getdoc(obj))
    paragraphs: list[str] = []
    for doc in docs:
        for block in re.split(r"\n\s*\n", doc or ""):
            lines = [line.strip() for line in block.splitlines()]
            if any(line.startswith((">>>", "...", "-", "*", "+", "|")) or line.endswith("::") for line in lines):
                continue  # examples, lists and tables are not prose
            text = " ".join(lines)
            letters = sum(c.isalpha() or c.isspace() for c in text) / max(len(text), 1)
            if len(text.split()) >= 15 and text[0].isupper() and text.endswith((".", "!", "?")) and letters >= 0.88:
                if text not in paragraphs:
                    paragraphs.append(text)
    return paragraphs


def articles(count: int, rng: random.Random) -> list[tuple[str, list[str]]]:
    """``count`` (title, paragraphs) articles, 3-7 paragraphs each, round robin over the modules."""
    queues = {m: prose_paragraphs(m) for m in MODULES}
    queues = {m: q for m, q in queues.items() if len(q) >= 3}
    if not queues:
        raise SystemExit("no prose found in the standard library's docstrings")
    result, used = [], 0
    while len(result) < count:
        for module, paragraphs in queues.items():
            if len(result) == count:
                break
            size = rng.randint(3, 7)
            start = (used * 3) % len(paragraphs)
            chunk = (paragraphs[start:] + paragraphs[:start])[:size]
            template = TITLES[len(result) % len(TITLES)]
            result.append((template.format(module=module, part=used + 1), chunk))
        used += 1
    return result


def page(title: str, paragraphs: list[str], site: tuple, rng: random.Random, lang: str = "en",
         charset: str = "utf-8", related: tuple[str, ...] = ()) -> str:
    """A full HTML page: head, cookie banner, navigation, article, related links, footer."""
    host, name, nav = site
    author, day = rng.choice(AUTHORS), rng.randint(1, 28)
    links = "".join(f'<li><a href="https://{host}/article/{rng.randint(1000, 9999)}">{escape(r, quote=False)}</a> '
                    f'<a class="more" href="https://{host}/article/{rng.randint(1000, 9999)}">Read more &raquo;</a></li>'
                    for r in related)
    title = escape(title, quote=False)
    body = "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="{charset}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} | {name}</title>
<link rel="stylesheet" href="/static/css/main.{rng.randrange(16**8):08x}.css">
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}</script>
</head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to personalise content and to analyse our traffic.
By continuing to browse this site you agree to our use of cookies.</p><button>Accept all</button> <button>Manage preferences</button></div>
<header><a class="logo" href="/">{name}</a><nav><ul>{"".join(f'<li><a href="/{n.lower().replace(" ", "-")}/">{n}</a></li>' for n in nav)}</ul></nav>
<form action="/search"><input type="search" name="q" placeholder="Search"></form></header>
<main><article>
<h1>{title}</h1>
<p class="byline">By {author} &middot; June {day}, 2023 &middot; {rng.randint(3, 12)} min read</p>
{body}
<div class="share">Share this article: <a href="#">Twitter</a> <a href="#">Facebook</a> <a href="#">LinkedIn</a></div>
</article>
<aside><h2>Related articles</h2><ul>{links}</ul>
<div class="newsletter"><h3>Subscribe to our newsletter</h3><p>Get the latest posts delivered to your inbox.</p></div></aside>
</main>
<footer><p>&copy; 2023 {name}. All rights reserved.</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms of use</a> | <a href="/imprint">Imprint</a> | <a href="/sitemap.xml">Sitemap</a></p></footer>
</body>
</html>
"""


def png(width: int = 16, height: int = 16) -> bytes:
    """A small valid PNG (a grey gradient), for the image record."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes((x * 16 + y) % 256 for x in range(width)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def html_capture(url: str, html: str, charset: str = "UTF-8", lang: str = "en", **kw) -> Capture:
    headers = [("Server", "nginx"), ("Content-Type", f"text/html; charset={charset}")]
    return Capture(url, html.encode(charset, "xmlcharrefreplace"), headers=headers, language=lang, **kw)


def near_duplicate(html: str, rng: random.Random) -> str:
    """The same article with another byline date, one paragraph dropped and a sentence reworded."""
    html = re.sub(r"June \d+, 2023", f"July {rng.randint(1, 28)}, 2023", html)
    paragraphs = re.findall(r"<p>[^<]*</p>\n", html)
    if len(paragraphs) > 3:
        html = html.replace(paragraphs[len(paragraphs) // 2], "", 1)
    return html.replace("Related articles", "You might also like").replace("Read more", "Continue reading")


def captures(pages: int, rng: random.Random) -> list[Capture]:
    """The page mix described in the module docstring, ``pages`` captures in all (shuffled)."""
    special = 25
    english = articles(max(pages - special, 4), rng)
    titles = [t for t, _ in english]
    out: list[Capture] = []
    for i, (title, paragraphs) in enumerate(english):
        site = SITES[i % len(SITES)]
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        html = page(title, paragraphs, site, rng, related=tuple(rng.sample(titles, 3)))
        out.append(html_capture(f"https://{site[0]}/articles/{slug}", html))
    originals = out[:8]
    for k, original in enumerate(originals[:4]):  # exact duplicates: syndicated copies on a mirror
        out.append(Capture(f"https://mirror{k}.planetpython.example.net/feed/{k}", original.body, headers=list(original.headers)))
    for k, original in enumerate(originals[4:8]):  # near duplicates: republished with small edits
        out.append(html_capture(f"{original.url}?amp=1&utm_source=rss{k}", near_duplicate(original.body.decode(), rng)))
    out += foreign_captures(rng)
    out += spam_captures(rng)
    out += odd_captures(english, rng)
    rng.shuffle(out)
    return out[:pages]


def foreign_captures(rng: random.Random) -> list[Capture]:
    """Two pages each in German, French (one in ISO-8859-1) and Spanish (one gzip-encoded)."""
    sites = {"de": ("www.alltag-blog.example.de", "Alltagsblog", ("Start", "Themen", "Über uns", "Kontakt", "Impressum")),
             "fr": ("www.carnet-de-route.example.fr", "Carnet de route", ("Accueil", "Voyages", "Cuisine", "Contact", "À propos")),
             "es": ("www.rincon-cultural.example.es", "Rincón cultural", ("Inicio", "Cultura", "Viajes", "Contacto", "Aviso legal"))}
    out = []
    for lang, items in FOREIGN.items():
        for k, (title, paragraphs) in enumerate(items):
            charset = "ISO-8859-1" if (lang, k) == ("fr", 1) else "UTF-8"
            html = page(title, list(paragraphs), sites[lang], rng, lang=lang, charset=charset.lower())
            capture = html_capture(f"https://{sites[lang][0]}/{lang}/{k + 1}/", html, charset=charset, lang=lang)
            if (lang, k) == ("es", 1):
                capture.body = gzip.compress(capture.body, mtime=0)
                capture.headers.append(("Content-Encoding", "gzip"))
            out.append(capture)
    return out


def spam_captures(rng: random.Random) -> list[Capture]:
    """Keyword-stuffed pages (four) and pages on adult-word URLs (three)."""
    out = []
    for k in range(4):
        lines = [rng.choice(SPAM_LINES) for _ in range(40)]
        html = "<html><head><title>cheap watches cheap watches</title></head><body>" + "".join(
            f"<div>{line}</div>\n" for line in lines) + "<a href='/buy'>BUY NOW</a></body></html>"
        out.append(html_capture(f"http://www.cheap-watches-{k}.example.biz/index.php?page={k}", html))
    for url in ADULT_URLS:
        html = ("<html><head><title>Hot videos updated daily</title></head><body><h1>Hot videos updated daily</h1>"
                "<p>You must be 18 years or older to enter this site. Click here to enter.</p>"
                + "".join(f"<a href='/v/{rng.randint(1, 999)}'>Video {n}</a>\n" for n in range(30)) + "</body></html>")
        out.append(html_capture(url, html, lang="en"))
    return out


def odd_captures(english: list[tuple[str, list[str]]], rng: random.Random) -> list[Capture]:
    """A 404, a redirect, a PNG, and an article whose type is declared nowhere."""
    host = SITES[0][0]
    missing = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
    title, paragraphs = english[-1]
    undeclared = page(title + " (print version)", paragraphs, SITES[1], rng)
    return [
        Capture(f"https://{host}/old-page.html", missing.encode(), status="404 Not Found",
                headers=[("Server", "nginx"), ("Content-Type", "text/html")]),
        Capture(f"http://{host}/tutorials", b"", status="301 Moved Permanently",
                headers=[("Location", f"https://{host}/tutorials/"), ("Content-Type", "text/html")]),
        Capture(f"https://{host}/static/img/logo.png", png(), headers=[("Content-Type", "image/png")], payload_type="image/png"),
        Capture(f"https://{SITES[1][0]}/print/{rng.randint(100, 999)}", undeclared.encode(), headers=[("Server", "Apache")],
                payload_type=None),
    ]


def languages_cld2(language: str, size: int) -> str:
    names = {"en": ("eng", "ENGLISH"), "de": ("deu", "GERMAN"), "fr": ("fra", "FRENCH"), "es": ("spa", "SPANISH")}
    code3, name = names[language]
    return json.dumps({"reliable": True, "text-bytes": size // 3, "languages": [
        {"code": language, "code-iso-639-3": code3, "text-covered": 0.98, "score": 990.0, "name": name}]},
        separators=(",", ":"))


class SampleWriter:
    """Writes captures as Common Crawl does: request, response, metadata, with seeded ids and dates."""

    def __init__(self, out, rng: random.Random) -> None:
        self.writer = WARCWriter(out, gzip=True)
        self.rng = rng
        self.time = START

    def _headers(self, **extra: str) -> dict[str, str]:
        record_id = uuid.UUID(int=self.rng.getrandbits(128), version=4)
        return {"WARC-Date": self.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "WARC-Record-ID": f"<urn:uuid:{record_id}>", **extra}

    def _write(self, uri: str, kind: str, payload: bytes | None = None, content_type: str = "", http=None, **extra) -> None:
        record = self.writer.create_warc_record(
            uri, kind, payload=io.BytesIO(payload) if payload is not None else None,
            length=len(payload) if payload is not None else None, warc_content_type=content_type,
            http_headers=http, warc_headers_dict=self._headers(**extra))
        self.writer.write_record(record)

    def warcinfo(self, filename: str, count: int) -> None:
        info = (f"isPartOf: {CRAWL}\r\npublisher: refinedweb demo (synthetic sample in Common Crawl's layout)\r\n"
                f"description: {count} captures made by scripts/make_sample_warc.py from Python's docstrings\r\n"
                "software: refinedweb make_sample_warc.py\r\nformat: WARC File Format 1.0\r\n"
                "conformsTo: https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/\r\n").encode()
        self._write("", "warcinfo", info, "application/warc-fields", **{"WARC-Filename": filename})

    def capture(self, capture: Capture) -> None:
        self.time += timedelta(seconds=self.rng.randint(1, 90))
        url = capture.url
        host = url.split("/")[2]
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        ip = ".".join(str(self.rng.randint(1, 254)) for _ in range(4))
        request = StatusAndHeaders(f"GET {path} HTTP/1.1", [
            ("User-Agent", "refinedweb-demo/1.0 (synthetic sample)"),
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", "en-US,en;q=0.5"), ("Accept-Encoding", "br,gzip"), ("Host", host)], is_http_request=True)
        self._write(url, "request", http=request, **{"WARC-IP-Address": ip})
        headers = [("Date", self.time.strftime("%a, %d %b %Y %H:%M:%S GMT"))] + capture.headers
        headers.append(("Content-Length", str(len(capture.body))))
        response = StatusAndHeaders(capture.status, headers, protocol="HTTP/1.1")
        extra = {"WARC-IP-Address": ip}
        if capture.payload_type:
            extra["WARC-Identified-Payload-Type"] = capture.payload_type
        self._write(url, "response", capture.body, http=response, **extra)
        meta = f"fetchTimeMs: {self.rng.randint(40, 2500)}\r\n"
        if capture.payload_type == "text/html" and capture.status.startswith("200"):
            meta += f"charset-detected: UTF-8\r\nlanguages-cld2: {languages_cld2(capture.language, len(capture.body))}\r\n"
        self._write(url, "metadata", meta.encode(), "application/warc-fields")


def write_sample(output: Path, pages: int = 66, seed: int = 2023) -> int:
    """Write the sample to ``output``; returns the number of records (1 + 3 per capture)."""
    rng = random.Random(seed)
    chosen = captures(pages, rng)
    output.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    sample = SampleWriter(buffer, rng)
    sample.warcinfo(output.name, len(chosen))
    for capture in chosen:
        sample.capture(capture)
    output.write_bytes(buffer.getvalue())
    return 1 + 3 * len(chosen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("demo/sample.warc.gz"), help="where to write the .warc.gz")
    parser.add_argument("--pages", type=int, default=66, help="captures to write (3 records each, plus a warcinfo)")
    parser.add_argument("--seed", type=int, default=2023, help="seed for ids, dates and the page mix")
    args = parser.parse_args(argv)
    if args.pages < 1:
        parser.error("--pages must be >= 1")
    records = write_sample(args.output, args.pages, args.seed)
    print(f"wrote {args.output} ({records} records, {args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a path lives: a local path, or a URL of object storage (``s3://``, ``gs://``, any fsspec one).

Every path a user gives (inputs, outputs, checkpoints, tokenizers) goes through ``location``: a
local path stays a ``pathlib.Path`` (so local behaviour, fsync and rename included, is unchanged);
a URL becomes a ``Remote``, a small pathlib-like object over a ``pyarrow.fs`` filesystem.

Why ``pyarrow.fs`` rather than fsspec/s3fs: pyarrow is already a dependency and reads and writes
Parquet natively on it; its S3 client is the AWS C++ SDK, whose retry strategy backs off
exponentially on throttling (503 SlowDown), 5xx and broken connections, which is configured here
(``S3Config.max_attempts``); s3fs would add aiobotocore, aiohttp and botocore for the same. Other
schemes go to ``pyarrow.fs.FileSystem.from_uri`` (``gs://``, ``hdfs://``) and, failing that, to
fsspec where the scheme's package is installed (wrapped by ``pyarrow.fs.FSSpecHandler``).

S3 settings come from the ``storage.s3`` config section and else the standard AWS environment
variables (``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_PROFILE``, keys from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``
or the profile's files). ``configure`` exports the config as those variables, so Ray workers (which
inherit the driver's environment, or get it through ``ray_env`` on a cluster) resolve the same way.

Object stores have no rename: a key appears whole when its upload completes, never half (an upload
cut off by a crash is never completed). ``write_atomic`` in ``core/io.py`` therefore writes the
bytes to a local temporary file of this process, then uploads them to the key in one go; the order
of keys (a shard before its done marker) is the crash consistency.
"""

from __future__ import annotations

import configparser
import fnmatch
import functools
import os
import posixpath
import re
from dataclasses import dataclass, field
import shutil
import time
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs

from refinedweb.config import UserError, check

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
STREAMED = ("http", "https")  # read as a stream (pipeline/sources.py), never listed or written
ANONYMOUS_ENV = "REFINEDWEB_S3_ANONYMOUS"  # no standard AWS variable says "unsigned requests"
MAX_ATTEMPTS_ENV = "REFINEDWEB_S3_MAX_ATTEMPTS"
COPY_BYTES = 8 << 20  # per read and write of a copy between storages


@dataclass(frozen=True)
class S3Config:
    """How ``s3://`` URLs are reached; each unset field falls back to its standard AWS variable."""

    endpoint_url: str | None = None
    """An S3-compatible endpoint (``http://127.0.0.1:9000`` for MinIO or moto); else
    ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``; else AWS itself."""
    region: str | None = None
    """The bucket's region; else ``AWS_REGION``/``AWS_DEFAULT_REGION``, the profile's, or ``us-east-1``."""
    profile: str | None = None
    """A named profile of ``~/.aws/credentials`` and ``~/.aws/config``; else ``AWS_PROFILE``."""
    anonymous: bool = False
    """Unsigned requests, for public buckets (``s3://commoncrawl/``) without credentials; else
    ``REFINEDWEB_S3_ANONYMOUS=1``."""
    max_attempts: int = 10
    """Attempts per request, the first included: the AWS SDK backs off exponentially (25 ms doubling)
    between them on 503 SlowDown, other 5xx, timeouts and reset connections. No retry quota, so a burst
    of throttling does not turn retries off for the rest of the run."""
    connect_timeout_s: float = 10.0
    """Seconds to open a connection."""
    request_timeout_s: float = 120.0
    """Seconds a request may go without progress."""

    def __post_init__(self) -> None:
        check(self.endpoint_url is None or self.endpoint_url.startswith(("http://", "https://")), "endpoint_url",
              f"must be an http(s) URL, got {self.endpoint_url!r}")
        check(1 <= self.max_attempts <= 100, "max_attempts", f"must be in [1, 100], got {self.max_attempts}")
        check(0 < self.connect_timeout_s <= 3600, "connect_timeout_s", f"must be in (0, 3600], got {self.connect_timeout_s}")
        check(0 < self.request_timeout_s <= 3600, "request_timeout_s", f"must be in (0, 3600], got {self.request_timeout_s}")


@dataclass(frozen=True)
class StorageConfig:
    """Object storage settings (the ``storage:`` section); local paths need none."""

    s3: S3Config = field(default_factory=S3Config)
    """``s3://`` URLs."""


def _env(*names: str) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def effective_s3(config: S3Config | None = None) -> S3Config:
    """``config`` with every unset field taken from its AWS environment variable."""
    c = config or S3Config()
    anonymous = c.anonymous or os.environ.get(ANONYMOUS_ENV, "").lower() in ("1", "true", "yes")
    attempts = int(os.environ[MAX_ATTEMPTS_ENV]) if config is None and os.environ.get(MAX_ATTEMPTS_ENV) else c.max_attempts
    return S3Config(endpoint_url=c.endpoint_url or _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
                    region=c.region or _env("AWS_REGION", "AWS_DEFAULT_REGION"), profile=c.profile or _env("AWS_PROFILE"),
                    anonymous=anonymous, max_attempts=attempts, connect_timeout_s=c.connect_timeout_s,
                    request_timeout_s=c.request_timeout_s)


def configure(config: StorageConfig) -> None:
    """Make ``config`` this process's and its children's (Ray workers'): exported as the AWS variables."""
    s3 = config.s3
    for name, value in (("AWS_ENDPOINT_URL_S3", s3.endpoint_url), ("AWS_REGION", s3.region), ("AWS_PROFILE", s3.profile)):
        if value:
            os.environ[name] = value
    if s3.anonymous:
        os.environ[ANONYMOUS_ENV] = "1"
    if s3.max_attempts != S3Config.max_attempts:
        os.environ[MAX_ATTEMPTS_ENV] = str(s3.max_attempts)
    _filesystem.cache_clear()


def ray_env() -> dict[str, str]:
    """This process's storage settings, for a Ray job's ``runtime_env`` (workers on other hosts).

    Keys are not passed: a cluster's nodes have their own credentials (an instance role, their
    environment), and a runtime_env is shown in Ray's dashboard.
    """
    names = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
             ANONYMOUS_ENV, MAX_ATTEMPTS_ENV)
    return {n: os.environ[n] for n in names if os.environ.get(n)}


def _profile_keys(profile: str) -> dict[str, Any]:
    """Keys and region of a named profile (the AWS SDK reads only ``AWS_PROFILE``'s, not one named here)."""
    home = Path.home() / ".aws"
    creds = configparser.ConfigParser()
    creds.read([os.environ.get("AWS_SHARED_CREDENTIALS_FILE", home / "credentials")])
    conf = configparser.ConfigParser()
    conf.read([os.environ.get("AWS_CONFIG_FILE", home / "config")])
    section = creds[profile] if creds.has_section(profile) else None
    conf_section = conf[f"profile {profile}"] if conf.has_section(f"profile {profile}") else \
        conf[profile] if conf.has_section(profile) else None
    if section is None and conf_section is None:
        raise UserError(f"storage.s3.profile: no profile {profile!r} in ~/.aws/credentials or ~/.aws/config")
    merged = {**(dict(conf_section) if conf_section else {}), **(dict(section) if section else {})}
    keys: dict[str, Any] = {}
    if merged.get("aws_access_key_id"):
        keys.update(access_key=merged["aws_access_key_id"], secret_key=merged.get("aws_secret_access_key"),
                    session_token=merged.get("aws_session_token"))
    if merged.get("region"):
        keys["region"] = merged["region"]
    return keys


def s3_filesystem(config: S3Config) -> pafs.S3FileSystem:
    """A ``pyarrow.fs.S3FileSystem`` for an effective ``config`` (see ``effective_s3``)."""
    kwargs: dict[str, Any] = {}
    if config.profile and not config.anonymous:
        kwargs.update(_profile_keys(config.profile))
    if config.region:
        kwargs["region"] = config.region
    kwargs.setdefault("region", "us-east-1")
    if config.endpoint_url:
        scheme, _, host = config.endpoint_url.partition("://")
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme)
    # allow_delayed_open: a small key is one PutObject instead of a multipart upload's three requests
    # (10 small JSON keys: 30 -> 10 requests, counted on a loopback proxy before moto's server)
    return pafs.S3FileSystem(anonymous=config.anonymous, connect_timeout=config.connect_timeout_s,
                             request_timeout=config.request_timeout_s, allow_delayed_open=True,
                             retry_strategy=pafs.AwsDefaultS3RetryStrategy(max_attempts=config.max_attempts), **kwargs)


def scheme_of(url: str) -> str | None:
    """The URL scheme of ``url`` (lower case), None for a local path (``file://`` included)."""
    m = _SCHEME.match(url)
    return None if m is None or m.group(1).lower() == "file" else m.group(1).lower()


def is_remote(path: str | os.PathLike) -> bool:
    """True for a URL of object storage or the web; False for a local path."""
    return isinstance(path, Remote) or (isinstance(path, str) and scheme_of(path) is not None)


@functools.lru_cache(maxsize=None)
def _filesystem(scheme: str, authority: str, settings: S3Config | None) -> pafs.FileSystem:
    if scheme in ("s3", "s3a"):
        return s3_filesystem(settings or S3Config())
    url = f"{scheme}://{authority}"
    try:
        return pafs.FileSystem.from_uri(url)[0]
    except (ValueError, OSError, NotImplementedError):  # not one of pyarrow's own: try fsspec
        pass
    try:
        import fsspec  # an optional extra: other schemes where their package is installed
    except ImportError:
        raise UserError(f"no filesystem for {scheme}:// (install fsspec and its {scheme} package)") from None
    try:
        fs = fsspec.filesystem(scheme)
    except (ImportError, ValueError) as exc:
        raise UserError(f"no filesystem for {scheme}:// ({exc})") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs))


def filesystem(url: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of a storage URL and the path on it (``bucket/key`` for S3)."""
    scheme = scheme_of(url)
    if scheme is None:
        raise ValueError(f"{url}: a local path, not a URL")
    if scheme in STREAMED:
        raise UserError(f"{url}: http(s) URLs can be read as inputs but not listed or written")
    rest = url[len(scheme) + 3:]
    authority = rest.split("/", 1)[0]
    if not authority:
        raise UserError(f"{url}: no bucket or host in the URL")
    settings = effective_s3() if scheme in ("s3", "s3a") else None
    try:
        return _filesystem(scheme, authority, settings), rest.rstrip("/")
    except UserError as exc:
        raise UserError(f"{url}: {exc}") from None


T = TypeVar("T")
# AWS SDK errors that may pass but that the SDK does not retry itself: an S3 error answer (503 SlowDown's
# XML, a few hundred bytes) to a ranged read smaller than it overflows the read's preallocated buffer, and
# the SDK reports INTERNAL_FAILURE with the status lost (apache/doris#66557 traces the same in the SDK).
UNRETRIED_TRANSIENT = ("Failed to flush response stream",)


def retry_read(read: Callable[[], T]) -> T:
    """``read()``, again with backoff (25 ms doubling, ``S3Config.max_attempts`` in all) on an ``UNRETRIED_TRANSIENT`` error."""
    attempts = effective_s3().max_attempts
    for attempt in range(1, attempts + 1):
        try:
            return read()
        except OSError as exc:
            if attempt == attempts or not any(m in str(exc) for m in UNRETRIED_TRANSIENT):
                raise
            time.sleep(min(0.025 * 2 ** (attempt - 1), 5.0))
    raise AssertionError("unreachable")


class _RetryingInput:
    """A seekable reader over a pyarrow input file whose every ranged read is retried (``retry_read``)."""

    def __init__(self, file: Any) -> None:
        self.file, self.pos, self.closed = file, 0, False
        self.length = file.size()

    def read(self, n: int = -1) -> bytes:
        n = self.length - self.pos if n is None or n < 0 else min(n, self.length - self.pos)
        data = retry_read(lambda: self.file.read_at(n, self.pos)) if n > 0 else b""
        self.pos += len(data)
        return bytes(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.length + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def size(self) -> int:
        return self.length

    def close(self) -> None:
        self.closed = True
        self.file.close()


class Remote:
    """A path on object storage, with the part of ``pathlib.Path``'s interface the phases use.

    Folders are key prefixes: ``mkdir`` does nothing, ``is_dir`` is true where a key lies below.
    Picklable (it holds the URL), so it crosses to Ray workers, which resolve it the same way.
    """

    def __init__(self, url: str) -> None:
        scheme = scheme_of(url)
        if scheme is None:
            raise ValueError(f"{url}: not a URL")
        head = f"{scheme}://"
        self.url = head + url[len(head):].rstrip("/")

    # --- names -------------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Remote({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Remote) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __lt__(self, other: Remote) -> bool:
        return self.url < other.url

    def __reduce__(self):
        return (Remote, (self.url,))

    def __truediv__(self, part: str | os.PathLike) -> Remote:
        return Remote(f"{self.url}/{str(part).strip('/')}")

    @property
    def _head_and_key(self) -> tuple[str, str]:
        scheme = scheme_of(self.url) or ""
        rest = self.url[len(scheme) + 3:]
        return f"{scheme}://", rest

    @property
    def name(self) -> str:
        return posixpath.basename(self._head_and_key[1])

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    @property
    def parent(self) -> Remote:
        head, rest = self._head_and_key
        return Remote(head + (posixpath.dirname(rest) or rest))

    @property
    def parents(self) -> list[Remote]:
        out, p = [], self
        while p.parent != p:
            p = p.parent
            out.append(p)
        return out

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self._head_and_key[1].split("/"))

    def with_name(self, name: str) -> Remote:
        return self.parent / name

    def with_suffix(self, suffix: str) -> Remote:
        return self.parent / (self.stem + suffix)

    def relative_to(self, other: Remote) -> PurePosixPath:
        prefix = other.url + "/"
        if not self.url.startswith(prefix):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.url[len(prefix):])

    def resolve(self) -> Remote:
        return self

    def is_absolute(self) -> bool:
        return True

    def expanduser(self) -> Remote:
        return self

    # --- the filesystem ----------------------------------------------------------------------
    @property
    def fs(self) -> pafs.FileSystem:
        return filesystem(self.url)[0]

    @property
    def key(self) -> str:
        """The path on ``fs`` (``bucket/key`` for S3)."""
        return filesystem(self.url)[1]

    def info(self) -> pafs.FileInfo:
        return self.fs.get_file_info(self.key)

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def is_file(self) -> bool:
        return self.info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        if self.info().type == pafs.FileType.Directory:
            return True
        return bool(self._list(recursive=False))

    def size(self) -> int:
        return self.info().size or 0

    def mkdir(self, parents: bool = True, exist_ok: bool = True) -> None:
        """Nothing to make: an object store's folders are the prefixes of its keys."""

    def _list(self, recursive: bool) -> list[pafs.FileInfo]:
        try:
            return self.fs.get_file_info(pafs.FileSelector(self.key, recursive=recursive, allow_not_found=True))
        except FileNotFoundError:
            return []

    def iterdir(self) -> Iterator[Remote]:
        head = self._head_and_key[0]
        return iter(sorted(Remote(head + i.path) for i in self._list(recursive=False)))

    def walk_files(self) -> list[Remote]:
        """Every key below this prefix (recursively), sorted."""
        head = self._head_and_key[0]
        return sorted(Remote(head + i.path) for i in self._list(recursive=True) if i.type == pafs.FileType.File)

    def glob(self, pattern: str) -> Iterator[Remote]:
        """Keys right below this prefix whose name matches ``pattern`` (one level; ``rglob`` for all)."""
        if "/" in pattern:
            raise ValueError(f"{self}: glob takes one level ({pattern!r}); use rglob")
        return iter(sorted(p for p in self.iterdir() if fnmatch.fnmatchcase(p.name, pattern)))

    def rglob(self, pattern: str) -> Iterator[Remote]:
        return iter(sorted(p for p in self.walk_files() if fnmatch.fnmatchcase(p.name, pattern)))

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rmtree(self) -> None:
        """Delete every key below this prefix."""
        try:
            self.fs.delete_dir(self.key)
        except FileNotFoundError:
            pass

    def read_bytes(self) -> bytes:
        def read() -> bytes:
            with self.fs.open_input_stream(self.key, compression=None) as f:
                return f.read()

        return retry_read(read)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def _refused(self, exc: OSError) -> Exception:
        """A write the store refuses for good (no bucket, no permission) as a ``UserError`` naming the key; others as they are."""
        text = str(exc)
        for code, why in (("NO_SUCH_BUCKET", "the bucket does not exist"), ("ACCESS_DENIED", "access denied"),
                          ("AccessDenied", "access denied")):
            if code in text:
                return UserError(f"{self.url}: cannot write it: {why}")
        return exc

    def write_bytes(self, data: bytes) -> None:
        """One upload: the key appears whole when it completes (written at once, never streamed half)."""
        try:
            with self.fs.open_output_stream(self.key, compression=None) as f:
                f.write(data)
        except OSError as exc:
            raise self._refused(exc) from None

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def upload(self, local: str | os.PathLike) -> None:
        """Copy a local file onto this key; a failed upload deletes what it may have left."""
        try:  # not pafs.copy_files: it drops an error raised when the stream closes (the upload itself)
            with open(local, "rb") as src, self.fs.open_output_stream(self.key, compression=None) as out:
                shutil.copyfileobj(src, out, COPY_BYTES)
        except OSError as exc:
            refused = self._refused(exc)
            if refused is exc:
                self.unlink(missing_ok=True)
                raise
            raise refused from None
        except BaseException:
            self.unlink(missing_ok=True)
            raise

    def open_input(self) -> Any:
        """A seekable pyarrow file over the key (Parquet readers take it as is), each read retried (``retry_read``)."""
        return pa.PythonFile(_RetryingInput(retry_read(lambda: self.fs.open_input_file(self.key))), mode="r")

    def open(self, mode: str = "rb") -> Any:
        if mode in ("rb", "r"):
            return self.open_input()
        if mode == "wb":
            return self.fs.open_output_stream(self.key, compression=None)
        raise ValueError(f"{self}: mode {mode!r} not supported on object storage")


StoragePath = Path | Remote


def location(path: str | os.PathLike | Remote) -> StoragePath:
    """The one resolver of a user's path: a ``Remote`` for a storage URL, else a local ``Path`` (``~`` expanded)."""
    if isinstance(path, (Remote, Path)):
        return path
    text = os.fspath(path)
    scheme = scheme_of(text)
    if scheme is None:
        return Path(os.path.expanduser(text.removeprefix("file://")))
    if scheme in STREAMED:
        raise UserError(f"{text}: an http(s) URL cannot be a folder to list or write (use s3:// or a local path)")
    remote = Remote(text)
    filesystem(remote.url)  # an unknown scheme or a URL without a bucket fails here, naming the path
    return remote


def local(path: StoragePath, what: str) -> Path:
    """``path`` where only a local one will do (a library that writes a local file); a URL is a ``UserError``."""
    if isinstance(path, Remote):
        raise UserError(f"{path}: {what} must be a local path")
    return path



def stat_key(path: str | os.PathLike | Remote) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a local file or a key: what tells a changed input from the same one."""
    where = location(path)
    if isinstance(where, Remote):
        info = where.info()
        if info.type != pafs.FileType.File:
            raise FileNotFoundError(f"{where}: no such key")
        return info.size or 0, int(info.mtime_ns or 0)
    st = os.stat(where)
    return st.st_size, st.st_mtime_ns


def copy_file(source: StoragePath, dest: StoragePath) -> None:
    """Copy one file between any two storages (a server-side copy within one object store)."""
    if isinstance(source, Remote) and isinstance(dest, Remote) and source.fs == dest.fs:
        source.fs.copy_file(source.key, dest.key)
    elif isinstance(dest, Remote):
        dest.upload(source)
    elif isinstance(source, Remote):
        with source.fs.open_input_stream(source.key, compression=None) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, COPY_BYTES)
    else:
        shutil.copyfile(source, dest)


def remove_tree(path: StoragePath) -> None:
    """Delete a folder and all below it (every key under a prefix); absent is fine."""
    if isinstance(path, Remote):
        path.rmtree()
    else:
        shutil.rmtree(path, ignore_errors=True)


def download_tree(path: Remote, local: Path) -> Path:
    """Every key below ``path`` copied under the local folder ``local`` (for libraries that read only local files)."""
    for key in path.walk_files():
        dest = local / key.relative_to(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        copy_file(key, dest)
    return local


def upload_tree(local: Path, path: Remote, last: tuple[str, ...] = ()) -> None:
    """Every file below the local folder ``local`` uploaded under ``path``; the names in ``last`` after the others.

    ``last`` holds what a reader takes as the mark of a whole folder (an HF ``config.json``), so
    a cut-off upload never looks whole.
    """
    files = sorted((f for f in local.rglob("*") if f.is_file()), key=lambda f: (f.name in last, f.as_posix()))
    for file in files:
        (path / file.relative_to(local).as_posix()).upload(file)

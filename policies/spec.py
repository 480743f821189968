"""Policies from short strings, for the CLI, configs and scenario defaults.

``hf:PATH`` · ``vllm:PATH`` · ``openai:MODEL`` or ``openai:MODEL@BASE_URL`` · ``scripted:FILE`` ·
``random`` or ``random:N`` · ``human`` · ``tiny`` (the locally built tiny model; ``tiny:vllm`` serves
it with vLLM). Keyword options follow a ``?`` as a query string, e.g.
``hf:/models/x?temperature=0.7&max_new_tokens=64``; values are read as JSON when they parse
(numbers, ``true``, ``null``) and as text otherwise.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from policies.base import Policy

TINY_ARCH = "qwen3"
TINY_SEED = 0


def tiny_model_dir(arch: str = TINY_ARCH, seed: int = TINY_SEED) -> Path:
    """The cached tiny model (built on first use) under ``$OSIM_CACHE_DIR`` or ``~/.cache/osim``.

    The model is built in a temporary sibling directory and renamed into place, so concurrent
    processes never see a half-written model.
    """
    from policies.tiny import build_tiny_model, is_tiny_model_dir

    root = Path(os.environ.get("OSIM_CACHE_DIR") or Path.home() / ".cache" / "osim")
    target = root / f"tiny-{arch}" if seed == TINY_SEED else root / f"tiny-{arch}-seed{seed}"
    if is_tiny_model_dir(target, arch, seed):
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        build_tiny_model(staging, arch=arch, seed=seed)  # type: ignore[arg-type]
        if target.exists() and not is_tiny_model_dir(target, arch, seed):
            shutil.rmtree(target)  # an incomplete or outdated build
        try:
            staging.rename(target)
        except OSError:
            if not is_tiny_model_dir(target, arch, seed):  # not a concurrent builder that won the race
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def parse_spec(spec: str | Policy, **options: Any) -> Policy:
    """A policy from its string spec (a ``Policy`` is returned unchanged). ``options`` override."""
    if isinstance(spec, Policy):
        return spec
    text = str(spec).strip()
    if not text:
        raise ValueError("empty policy spec")
    head, _, query = text.partition("?")
    kwargs = {k: _value(v) for k, v in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))}
    kwargs.update(options)
    backend, _, arg = head.partition(":")
    backend = backend.strip().lower()

    if backend == "tiny":
        engine = arg or "hf"
        if engine not in ("hf", "vllm"):
            raise ValueError(f"tiny serves with 'hf' or 'vllm', got {engine!r}")
        backend, arg = engine, str(tiny_model_dir())
    if backend in ("hf", "vllm", "scripted", "openai") and not arg:
        raise ValueError(f"policy spec {text!r} needs a target after '{backend}:'")
    if backend == "hf":
        from policies.hf import HFPolicy

        return HFPolicy(arg, **kwargs)
    if backend == "vllm":
        from policies.vllm_engine import VLLMPolicy

        return VLLMPolicy(arg, **kwargs)
    if backend == "openai":
        from policies.openai_chat import OpenAIChatPolicy

        model, base_url = _model_at_url(arg)
        if base_url is not None:
            kwargs.setdefault("base_url", base_url)
        return OpenAIChatPolicy(model, **kwargs)
    if backend == "scripted":
        from policies.scripted import ScriptedPolicy

        return ScriptedPolicy.from_file(arg, **kwargs)
    if backend == "random":
        from policies.scripted import RandomChoicePolicy

        if arg:
            try:
                kwargs.setdefault("n_options", int(arg))
            except ValueError:
                raise ValueError(f"random:N needs a number of options, got {arg!r}") from None
        return RandomChoicePolicy(**kwargs)
    if backend in ("human", "oracle"):  # oracle: tau-user's gold-action agent (docs/tasks.md#tau-user-oracle)
        module, name = _CLASSES[backend]
        return getattr(importlib.import_module(module), name)(**kwargs)
    raise ValueError(
        f"unknown policy spec {text!r}; expected hf:PATH, vllm:PATH, openai:MODEL[@BASE_URL], "
        "scripted:FILE, random[:N], human, oracle or tiny[:vllm]"
    )


def _model_at_url(arg: str) -> tuple[str, str | None]:
    """Split ``MODEL@BASE_URL`` at the last ``@`` that starts a URL (model names may contain ``@``)."""
    for i in range(len(arg) - 1, -1, -1):
        if arg[i] == "@" and arg[i + 1 :].startswith(("http://", "https://")):
            model = arg[:i]
            if not model:
                raise ValueError(f"openai spec {arg!r} has no model name before '@'")
            return model, arg[i + 1 :]
    return arg, None


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


# Where each backend's policy class lives, for checking a spec's option names without building it.
_CLASSES = {
    "hf": ("policies.hf", "HFPolicy"),
    "vllm": ("policies.vllm_engine", "VLLMPolicy"),
    "openai": ("policies.openai_chat", "OpenAIChatPolicy"),
    "scripted": ("policies.scripted", "ScriptedPolicy.from_file"),
    "random": ("policies.scripted", "RandomChoicePolicy"),
    "human": ("policies.human", "HumanPolicy"),
    "oracle": ("policies.oracle", "OraclePolicy"),
}
BACKENDS = ("tiny", *_CLASSES)
# A Hugging Face hub id ("org/name"); anything else that is not a local directory is a wrong path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_spec(spec: str) -> None:
    """Raise ``ValueError`` saying what is wrong with ``spec``, without building the policy.

    The command line checks every spec before it loads a model or writes to the store: the backend
    is known, its target is given, a model path or scripted file exists, and the options after ``?``
    are parameters of the policy (a misspelt ``temprature`` fails here, not after a model load)."""
    text = str(spec).strip()
    head, _, query = text.partition("?")
    backend, _, arg = head.partition(":")
    backend = backend.strip().lower()
    if backend not in BACKENDS:
        raise ValueError(
            f"unknown policy spec {text!r}; expected hf:PATH, vllm:PATH, openai:MODEL[@BASE_URL], "
            "scripted:FILE, random[:N], human, oracle or tiny[:vllm]"
        )
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ValueError(
            f"policy spec {text!r}: options after '?' must look like key=value&key2=value2"
        ) from None
    if backend == "tiny":
        if arg not in ("", "hf", "vllm"):
            raise ValueError(f"policy spec {text!r}: tiny serves with 'hf' or 'vllm', got {arg!r}")
        backend = arg or "hf"
    elif backend in ("hf", "vllm", "scripted", "openai") and not arg:
        raise ValueError(f"policy spec {text!r} needs a target after '{backend}:'")
    elif backend in ("hf", "vllm") and not Path(arg).is_dir() and not _HUB_ID.match(arg):
        raise ValueError(
            f"policy spec {text!r}: no model directory {arg!r} (and it is not a hub id org/name)"
        )
    elif backend == "scripted" and not Path(arg).is_file():
        raise ValueError(f"policy spec {text!r}: no scripted actions file {arg!r}")
    _check_option_names(text, backend, options)


def _check_option_names(text: str, backend: str, options: dict[str, str]) -> None:
    module, attr = _CLASSES[backend]
    target: Any = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    params = inspect.signature(target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # forwarded to the engine, which checks them itself
    known = sorted(
        name
        for name, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY or p.default is not inspect.Parameter.empty
    )
    unknown = sorted(set(options) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"policy spec {text!r}: unknown option {unknown[0]!r}{hint}; known: {', '.join(known)}"
        )

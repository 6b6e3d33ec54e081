"""What building aiogram's models lazily would save: a measurement, not something Convoca does.

    python -m bench.aiogram_lazy_probe eager    # aiogram as it is
    python -m bench.aiogram_lazy_probe lazy     # its models built on first use instead

aiogram 3 builds every one of its ~800 pydantic models when it is imported
(``aiogram/types/__init__.py`` calls ``model_rebuild`` on each), which is most of the time
and memory a Convoca process needs before its first getUpdates. ``lazy`` intercepts those
calls, keeps the namespace they would resolve names in, and lets pydantic build each model
the first time it is used. It relies on pydantic internals, so it stays here as evidence for
what an upstream change would give (aiogram issues #1891 and #1513), not in the product.

Prints one JSON line: import seconds, the first Update parsed and the first SendMessage
built after the import (milliseconds: the lazy build's cost moves there), and peak memory."""

from __future__ import annotations

import json
import resource
import sys
import time

UPDATE = {"update_id": 1, "message": {
    "message_id": 5, "date": 1_700_000_000, "chat": {"id": 1, "type": "private"},
    "from": {"id": 1, "is_bot": False, "first_name": "Ana"}, "text": "hola"}}


def _defer_aiogram_builds() -> None:
    import pydantic
    from pydantic._internal import _model_construction

    eager = pydantic.BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]

    def model_rebuild(cls, *args, _types_namespace=None, **kwargs):  # type: ignore[no-untyped-def]
        if _types_namespace is not None and cls.__module__.startswith("aiogram."):
            cls.__pydantic_parent_namespace__ = _model_construction.build_lenient_weakvaluedict(
                dict(_types_namespace))
            return None
        return eager(cls, *args, _types_namespace=_types_namespace, **kwargs)

    pydantic.BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[method-assign]


def _name_types_for_methods() -> None:
    import aiogram.methods as methods
    import aiogram.types as types
    import pydantic
    from pydantic._internal import _model_construction

    names = _model_construction.build_lenient_weakvaluedict(
        {n: getattr(types, n) for n in types.__all__})
    for n in methods.__all__:
        c = getattr(methods, n)
        if isinstance(c, type) and issubclass(c, pydantic.BaseModel) \
                and not c.__pydantic_complete__:
            c.__pydantic_parent_namespace__ = names


def main(mode: str) -> dict[str, float | str]:
    t0 = time.perf_counter()
    if mode == "lazy":
        _defer_aiogram_builds()
    import aiogram  # noqa: F401
    from aiogram.methods import SendMessage
    from aiogram.types import Update

    if mode == "lazy":
        _name_types_for_methods()
    t1 = time.perf_counter()
    update = Update.model_validate(UPDATE)
    t2 = time.perf_counter()
    SendMessage(chat_id=1, text="hola")
    t3 = time.perf_counter()
    assert update.message is not None and update.message.text == "hola"
    return {"mode": mode, "import_s": t1 - t0, "first_update_ms": (t2 - t1) * 1000,
            "first_send_message_ms": (t3 - t2) * 1000,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "eager")))

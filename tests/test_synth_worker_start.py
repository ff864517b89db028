"""Anny subjects are built up front only for workers that inherit them (the fork start method)."""

from __future__ import annotations

import multiprocessing as mp
from types import SimpleNamespace

import pytest

pytest.importorskip("anny")

from refinet_edge.synth import SynthConfig, generator  # noqa: E402
from refinet_edge.synth.anny_body import anny_subject  # noqa: E402

ANNY = SynthConfig(body="anny", num_subjects=2)


@pytest.mark.parametrize(("method", "workers", "built"), [("fork", 2, 2), ("spawn", 2, 0), ("fork", 1, 0)])
def test_subjects_are_built_before_the_pool_only_when_forked_workers_inherit_them(monkeypatch, method, workers,
                                                                                 built):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    context = mp.get_context(method)
    monkeypatch.setattr(generator, "mp", SimpleNamespace(get_context=lambda: context))  # the platform default
    anny_subject.cache_clear()
    frames = generator.generate_frames(4, seed=5, workers=workers, config=ANNY)  # not iterated: no frame made
    assert anny_subject.cache_info().currsize == built
    frames.close()
    anny_subject.cache_clear()

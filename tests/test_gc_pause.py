"""Loading runs without the garbage collector, then freezes what it made and restores it."""
from __future__ import annotations

import gc

import pytest

from dream3d.gc_pause import loading


@pytest.fixture(autouse=True)
def unfrozen():
    yield
    gc.unfreeze()
    gc.enable()


def test_collector_is_off_inside_and_back_on_after_with_the_survivors_frozen():
    gc.unfreeze()
    kept = [[i] for i in range(1000)]
    with loading():
        assert not gc.isenabled()
        made = [{"n": i} for i in range(1000)]
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(kept) + len(made)
    oldest = {id(x) for x in gc.get_objects(generation=2)}  # the frozen ones are not there: never scanned
    assert not any(id(x) in oldest for x in made)


def test_an_error_inside_still_restores_the_collector_and_a_disabled_one_stays_off():
    with pytest.raises(RuntimeError):
        with loading():
            raise RuntimeError("import failed")
    assert gc.isenabled()
    gc.disable()
    with loading():
        pass
    assert not gc.isenabled()

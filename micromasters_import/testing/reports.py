"""What a step's report must say when a test's rows all break a rule."""


def assert_only_skipped(report: dict, model, **skipped: int) -> None:
    """Nothing landed in the step's table, and every candidate is one of the expected skips.

    A step test that seeds only rows the rule must refuse checks three things at once: the
    target table is still empty (hidden rows included), the step inserted nothing, and its
    candidates are exactly the skipped rows, counted under the reasons given (`reason=count`).
    """
    manager = getattr(model, "all_objects", model.objects)
    assert manager.count() == 0
    assert (report["inserted"], report["candidates"]) == (0, sum(skipped.values()))
    assert report["skipped"] == skipped

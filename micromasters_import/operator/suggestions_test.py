"""The matching behind suggested mappings: pure functions, plain values in, proposals out."""

import pytest

from micromasters_import.operator import suggestions
from micromasters_import.operator.suggestions import (
    HIGH,
    LOW,
    MEDIUM,
    Source,
    Target,
    course_proposals,
)


def course(id_, title, number, key=None, runs=()):
    return Source(id_, title, number, key or f"MITx+{number}", frozenset(runs))


def target(id_, readable_id, title, runs=()):
    return Target(id_, readable_id, title, frozenset(runs))


def only(proposals):
    assert len(proposals) == 1, proposals
    return proposals[0]


def proposed(source, target, kind=suggestions.COURSE):
    """The one proposal for one MicroMasters course (or program) and one in MITx Online."""
    return only(suggestions.propose(kind, [source], [target]))


def test_same_course_key_is_high_with_its_evidence():
    proposal = proposed(
        course(1, "Microeconomics", "14.100x"),
        target(10, "course-v1:MITx+14.100x", "Microeconomics"),
    )
    assert proposal.key == "course:1:10"
    assert proposal.confidence == HIGH
    assert proposal.evidence == (
        "course key MITx+14.100x is the key of course-v1:MITx+14.100x",
        "identical titles",
    )
    assert proposal.micromasters_label == "14.100x Microeconomics"
    assert proposal.target_label == "course-v1:MITx+14.100x | Microeconomics"


def test_same_number_under_another_organisation_is_high_when_titles_agree():
    proposal = proposed(
        course(2, "Data Analysis for Social Scientists", "14.310x"),
        target(11, "course-v1:MITxT+14.310x", "Data Analysis for Social Scientists"),
    )
    assert proposal.confidence == HIGH
    assert (
        "course number 14.310x is the number in course-v1:MITxT+14.310x (organisation MITxT)"
        in proposal.evidence
    )


def test_same_number_with_different_titles_is_only_medium_and_says_so():
    proposal = proposed(
        course(3, "Microeconomics", "14.100x"),
        target(12, "course-v1:MITxT+14.100x", "Quantum Field Theory"),
    )
    assert proposal.confidence == MEDIUM
    assert any(item.startswith("but the titles differ") for item in proposal.evidence)


def test_course_number_from_the_key_when_course_number_differs():
    proposal = proposed(
        course(4, "Supply Chain Analytics", "SC0x", key="MITx+CTL.SC0x"),
        target(13, "course-v1:MITxT+CTL.SC0x", "Supply Chain Analytics"),
    )
    assert proposal.confidence == HIGH
    assert "course number CTL.SC0x is the number in" in proposal.evidence[0]


def test_shared_run_key_is_high_even_without_a_matching_readable_id():
    run = "course-v1:MITx+14.100x+1T2019"
    proposal = proposed(
        course(5, "Microeconomics", "14.100x", runs=[run]),
        target(14, "course-v1:MITxT+Micro", "Principles of Microeconomics", runs=[run]),
    )
    assert proposal.confidence == HIGH
    assert proposal.evidence[0] == f"shared run key {run}"


def test_number_inside_a_readable_id_is_medium():
    proposal = proposed(
        course(6, "Microeconomics", "14.100x"),
        target(15, "course-v1:MITxT+14.100x_2025", "Microeconomics"),
    )
    assert proposal.confidence == MEDIUM
    assert "course number 14.100x appears in course-v1:MITxT+14.100x_2025" in proposal.evidence


def test_number_is_not_found_inside_a_longer_number():
    assert not course_proposals(
        [course(7, "Microeconomics", "14.10x")],
        [target(16, "course-v1:MITxT+14.100x", "Thermodynamics")],
    )


@pytest.mark.parametrize(
    ("mm_title", "mo_title", "confidence"),
    [
        ("Microeconomics", "Microeconomics", MEDIUM),  # same title, no key evidence
        ("Foundations of Development Policy", "Foundations of Development Policy II", MEDIUM),
        ("Foundations of Development Policy", "Foundations of Development Policy: Advanced", LOW),
    ],
)
def test_titles_alone_give_medium_or_low(mm_title, mo_title, confidence):
    proposal = proposed(
        course(8, mm_title, "14.999x"), target(17, "course-v1:MITxT+Other", mo_title)
    )
    assert proposal.confidence == confidence
    assert "title" in proposal.evidence[-1]


def test_unrelated_courses_are_not_proposed():
    assert not course_proposals(
        [course(9, "Microeconomics", "14.100x")],
        [target(18, "course-v1:MITxT+8.01x", "Classical Mechanics")],
    )


def test_mapped_courses_on_either_side_are_left_out():
    sources = [course(1, "Microeconomics", "14.100x"), course(2, "Econometrics", "14.320x")]
    targets = [
        target(10, "course-v1:MITx+14.100x", "Microeconomics"),
        target(11, "course-v1:MITx+14.320x", "Econometrics"),
    ]
    assert [p.key for p in course_proposals(sources, targets, {1})] == ["course:2:11"]
    assert [p.key for p in course_proposals(sources, targets, (), {11})] == ["course:1:10"]


def test_one_target_goes_to_the_best_source_only():
    sources = [
        course(1, "Microeconomics", "14.100x"),
        course(2, "Microeconomics", "14.100x", key="MITx+Other"),
    ]
    targets = [target(10, "course-v1:MITx+14.100x", "Microeconomics")]
    assert [p.key for p in course_proposals(sources, targets)] == ["course:1:10"]


def test_two_equally_good_targets_make_a_proposal_ambiguous_and_less_confident():
    proposal = only(
        course_proposals(
            [course(1, "Microeconomics", "14.100x")],
            [
                target(10, "course-v1:MITxT+14.100x", "Microeconomics"),
                target(11, "course-v1:MITxU+14.100x", "Microeconomics"),
            ],
        )
    )
    assert proposal.confidence == MEDIUM
    assert any(item.startswith("ambiguous:") for item in proposal.evidence)


def test_program_same_title_ignoring_micromasters_program_in_is_high():
    proposal = proposed(
        Source(2, "MicroMasters Program in Statistics and Data Science"),
        Target(6, "program-v1:MITx+SDS", "Statistics and Data Science"),
        suggestions.PROGRAM,
    )
    assert proposal.confidence == HIGH
    assert proposal.evidence == (
        "same title: 'MicroMasters Program in Statistics and Data Science' / "
        "'Statistics and Data Science'",
        "program-v1:MITx+SDS ends in the title's initials SDS",
    )


def test_program_initials_and_a_similar_title_are_medium():
    proposal = proposed(
        Source(3, "Supply Chain Management"),
        Target(7, "program-v1:MITx+SCM", "Supply Chain Mgmt"),
        suggestions.PROGRAM,
    )
    assert proposal.confidence == MEDIUM
    assert proposal.evidence[-1] == "program-v1:MITx+SCM ends in the title's initials SCM"


def test_helpers():
    assert suggestions.course_key_parts("course-v1:MITx+14.100x+1T2019") == ("MITx", "14.100x")
    assert suggestions.course_key_parts("MITx+14.100x") == ("MITx", "14.100x")
    assert suggestions.course_key_parts("program-1") is None
    assert suggestions.acronym("Data, Economics, and Design of Policy") == "DEDP"
    assert suggestions.normalize_title("MicroMasters Program in Finance") == "finance"
    assert suggestions.parse_key("course:12:345") == ("course", 12, 345)
    with pytest.raises(ValueError, match="not a proposal id"):
        suggestions.parse_key("course:12")
    assert suggestions.at_least(HIGH, MEDIUM)
    assert not suggestions.at_least(LOW, MEDIUM)

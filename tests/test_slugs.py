"""Slug rules, one table per rule of `slugify`'s docstring; then the collision suffixes and titles."""

from __future__ import annotations

import pytest

from etl.slugs import slugify, titleize, unique_handle

CASE_IS_FOLDED = [
    ("Rolex", "rolex"),
    ("iPhone X", "iphone-x"),
    ("STRASSE", "strasse"),
    ("Straße", "strasse"),
]
ACCENTS_AND_STYLED_FORMS_GO = [
    ("Crème", "creme"),
    ("Crème Brûlée", "creme-brulee"),
    ("sautéing", "sauteing"),
    ("İstanbul", "istanbul"),
    ("ﬁne", "fine"),
    ("Ｔ２ fullwidth", "t2-fullwidth"),
    ("x²", "x2"),
]
RUNS_BECOME_ONE_DASH = [
    ("Off White & Red", "off-white-red"),
    ("Sports Sneakers Off White & Red", "sports-sneakers-off-white-red"),
    ("Dior J'adore", "dior-j-adore"),
    ("MotoGP CI.H1", "motogp-ci-h1"),
    ("a -- b __ c", "a-b-c"),
    ("Øre 日本 TV", "re-tv"),
]
ENDS_ARE_TRIMMED = [
    ("  Hello! ", "hello"),
    ("-x-", "x"),
    ("¿Qué?", "que"),
]
NOTHING_LEFT_GIVES_EMPTY = [
    ("!!!", ""),
    ("", ""),
    ("日本", ""),
    (" - ", ""),
]
ALL_RULES = (CASE_IS_FOLDED + ACCENTS_AND_STYLED_FORMS_GO + RUNS_BECOME_ONE_DASH + ENDS_ARE_TRIMMED
             + NOTHING_LEFT_GIVES_EMPTY)


@pytest.mark.parametrize("text,slug", CASE_IS_FOLDED)
def test_case_is_folded(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize("text,slug", ACCENTS_AND_STYLED_FORMS_GO)
def test_letters_keep_their_ascii_form(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize("text,slug", RUNS_BECOME_ONE_DASH)
def test_each_run_of_other_characters_becomes_one_dash(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize("text,slug", ENDS_ARE_TRIMMED)
def test_dashes_are_trimmed_from_the_ends(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize("text,slug", NOTHING_LEFT_GIVES_EMPTY)
def test_text_without_a_letter_or_digit_gives_an_empty_slug(text, slug):
    assert slugify(text) == slug


@pytest.mark.parametrize("text", [t for t, _ in ALL_RULES])
def test_a_slug_is_its_own_slug(text):
    assert slugify(slugify(text)) == slugify(text)


def test_numbers_are_slugged_as_their_text():
    assert [slugify(42), slugify(4.5)] == ["42", "4-5"]


@pytest.mark.parametrize("base,taken,expected", [
    ("rolex", set(), "rolex"),
    ("rolex", {"rolex"}, "rolex-1"),
    ("rolex", {"rolex", "rolex-1"}, "rolex-2"),
    ("rolex", {"rolex", "rolex-2"}, "rolex-1"),
    ("rolex", {"rolex-1"}, "rolex"),
    ("a-1", {"a-1"}, "a-1-1"),
])
def test_unique_handle_takes_the_first_free_suffix(base, taken, expected):
    assert unique_handle(base, taken) == expected


def test_unique_handle_leaves_the_taken_set_to_the_caller():
    taken = {"x"}
    unique_handle("x", taken)
    unique_handle("y", taken)
    assert taken == {"x"}


@pytest.mark.parametrize("slug,title", [
    ("home-decoration", "Home Decoration"),
    ("mens-shirts", "Mens Shirts"),
    ("beauty", "Beauty"),
    ("skin_care", "Skin Care"),
    ("--sports--accessories-", "Sports Accessories"),
    ("", ""),
])
def test_titleize(slug, title):
    assert titleize(slug) == title

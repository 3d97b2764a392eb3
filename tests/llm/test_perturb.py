import pytest

from fgkd.llm.perturb import count_words, remove_words, truncate_words

TEXT = "The Pelagic Cormorant is a sleek seabird with a glossy black body and a long neck."


def test_truncate_keeps_first_words():
    assert truncate_words(TEXT, 4) == "The Pelagic Cormorant is"
    assert truncate_words(TEXT, 0) == ""
    assert truncate_words("  a   b\nc ", 10) == "a b c"
    assert truncate_words(TEXT, 100) == TEXT


@pytest.mark.parametrize("n", [-1, 2.5, "3", True])
def test_truncate_rejects_bad_n(n):
    with pytest.raises(ValueError, match="non-negative int"):
        truncate_words(TEXT, n)


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.4, 0.6, 0.8, 0.99])
def test_remove_words_removes_rounded_count_and_keeps_order(ratio):
    n = count_words(TEXT)  # 16
    out = remove_words(TEXT, ratio, seed=3)
    assert count_words(out) == n - round(ratio * n)
    # Kept words are a subsequence of the original.
    words = iter(TEXT.split())
    assert all(any(w == x for x in words) for w in out.split())


def test_remove_words_is_deterministic_and_seeded():
    assert remove_words(TEXT, 0.4, seed=1) == remove_words(TEXT, 0.4, seed=1)
    outs = {remove_words(TEXT, 0.4, seed=s) for s in range(10)}
    assert len(outs) > 1


def test_remove_words_half_rounds_to_even():
    assert count_words(remove_words("a b c d e", 0.5, seed=0)) == 3  # round(2.5) == 2 removed


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, "0.2", None])
def test_remove_words_validates_ratio(ratio):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        remove_words(TEXT, ratio, seed=0)
